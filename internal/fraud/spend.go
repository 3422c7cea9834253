package fraud

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
