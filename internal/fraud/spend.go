package fraud

import (
	"cmp"
	"slices"
	"time"
)

// moneyBits is how many low bits of Guard.total hold the millionths spent;
// the bits above hold the day.
const (
	moneyBits = 48
	moneyMask = 1<<moneyBits - 1
)

// price returns the price of a send to country by channel, in millionths.
func (g *Guard) price(country, channel string) int64 {
	if len(g.prices) > 0 {
		if channel != "" {
			if p, ok := g.prices[[2]string{country, channel}]; ok {
				return p
			}
		}
		if p, ok := g.prices[[2]string{country, ""}]; ok {
			return p
		}
	}
	return g.defaultPrice
}

// totalSpent returns what was spent in all on day, in millionths.
func (g *Guard) totalSpent(day int64) int64 {
	v := g.total.Load()
	if int64(v>>moneyBits) < day {
		return 0
	}
	return int64(v & moneyMask)
}

// reserveTotal adds cost to the day's total spend if it stays within the
// cap, and reports whether it did. A send of an earlier day than the one
// counted (a request straddling midnight) counts on the later day.
func (g *Guard) reserveTotal(day, cost int64) bool {
	for {
		old := g.total.Load()
		d := int64(old >> moneyBits)
		spent := int64(old & moneyMask)
		if d < day {
			d, spent = day, 0
		}
		if spent+cost > g.totalCap {
			return false
		}
		if g.total.CompareAndSwap(old, uint64(d)<<moneyBits|uint64(spent+cost)) {
			return true
		}
	}
}

// refundTotal takes cost back from the day's total spend, if that day is
// still the one counted.
func (g *Guard) refundTotal(day, cost int64) {
	for {
		old := g.total.Load()
		if int64(old>>moneyBits) != day {
			return
		}
		spent := max(int64(old&moneyMask)-cost, 0)
		if g.total.CompareAndSwap(old, uint64(day)<<moneyBits|uint64(spent)) {
			return
		}
	}
}

// Spend is a Guard's spend on one UTC day against its caps, in the unit of
// the price table. The figures live in the Guard's memory: each instance
// counts its own sends, and a restart starts from zero.
type Spend struct {
	Day        time.Time      // midnight UTC of the day
	Total      float64        // spent in all that day
	TotalCap   float64        // SpendConfig.TotalPerDay; 0 means no cap
	CountryCap float64        // SpendConfig.CountryPerDay; 0 means no cap
	Countries  []CountrySpend // countries with spend that day, most first
}

// CountrySpend is one country's spend on the day.
type CountrySpend struct {
	Country string // ISO code, "001" for non-geographic numbers
	Spent   float64
}

// Spend returns today's spend (by the Guard's clock): per country and in
// all, with the caps. With a total cap the total is the figure the cap is
// checked against; without one it is the sum of the countries.
func (g *Guard) Spend() Spend {
	now := g.now()
	day := now.UnixNano() / dayNs
	out := Spend{Day: time.Unix(0, day*dayNs).UTC(), TotalCap: money(g.totalCap), CountryCap: money(g.countryCap)}
	var sum int64
	type row struct {
		country string
		spent   int64
	}
	var rows []row
	g.cmu.Lock()
	refs := slices.Clone(g.countries)
	g.cmu.Unlock()
	for _, r := range refs {
		r.sh.mu.Lock()
		if r.s.spendDay == day && r.s.spent > 0 {
			rows = append(rows, row{r.code, r.s.spent})
			sum += r.s.spent
		}
		r.sh.mu.Unlock()
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.spent, a.spent), cmp.Compare(a.country, b.country)) })
	for _, r := range rows {
		out.Countries = append(out.Countries, CountrySpend{Country: r.country, Spent: money(r.spent)})
	}
	out.Total = money(sum)
	if g.totalCap > 0 {
		out.Total = money(g.totalSpent(day))
	}
	return out
}

// money turns millionths into the price table's unit.
func money(m int64) float64 { return float64(m) / 1e6 }
