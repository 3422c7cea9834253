package media

import (
	"fmt"
	"strings"
	"testing"
)

// frameOf returns a u-law payload that decodes to the constant v(k), a
// distinct level for each k, so that a frame tells which packet it came from.
func frameOf(k int) []byte {
	b := make([]byte, FrameSamples)
	for i := range b {
		b[i] = 0xFE - byte(k%100)
	}
	return b
}

func level(k int) int16 { return mulawTable[0xFE-byte(k%100)] }

// jbScript drives a jitter buffer with a script of ticks: each step pushes
// packets (by offset from seq0; negative numbers are not allowed, use
// events "e3" for a non-audio packet at offset 3) then pops one frame,
// and returns a compact trace of the frames: "3" for packet 3 played,
// "~3" for a concealed frame in place of 3, "-" for no frame.
type jbStep []string

func runJB(t *testing.T, depth int, seq0 uint16, steps []jbStep) (string, *jitterBuffer) {
	t.Helper()
	j := &jitterBuffer{depth: depth}
	var trace []string
	out := make([]int16, FrameSamples)
	for _, step := range steps {
		for _, p := range step {
			var k int
			audio := !strings.HasPrefix(p, "e")
			if _, err := fmt.Sscan(strings.TrimPrefix(p, "e"), &k); err != nil {
				t.Fatalf("bad step %q", p)
			}
			seq := seq0 + uint16(k)
			if audio {
				j.push(seq, uint32(k)*FrameSamples+1000, lawMu, frameOf(k), true)
			} else {
				j.push(seq, uint32(k)*FrameSamples+1000, lawNone, nil, false)
			}
		}
		seq, ts, concealed, ok := j.pop(out)
		switch {
		case !ok:
			trace = append(trace, "-")
		case concealed:
			trace = append(trace, fmt.Sprintf("~%d", int16(seq-seq0)))
		default:
			k := int(int16(seq - seq0))
			if out[0] != level(k) || out[FrameSamples-1] != level(k) {
				t.Errorf("frame %d holds %d, want %d", k, out[0], level(k))
			}
			if ts != uint32(k)*FrameSamples+1000 {
				t.Errorf("frame %d has timestamp %d", k, ts)
			}
			trace = append(trace, fmt.Sprint(k))
		}
	}
	return strings.Join(trace, " "), j
}

// steps turns "0,1|2||3" into steps: packets pushed before each pop.
func steps(s string) []jbStep {
	var st []jbStep
	for _, tick := range strings.Split(s, "|") {
		if tick == "" {
			st = append(st, nil)
			continue
		}
		st = append(st, strings.Split(tick, ","))
	}
	return st
}

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name                            string
		depth                           int
		seq0                            uint16
		script                          string // packets arriving before each tick
		want                            string
		late, dup, concealed, discarded uint64
	}{
		{
			name: "in order", depth: 2, seq0: 100,
			script: "0|1|2|3|4|5|||",
			// prefill of depth+1 ticks counting the first, then one a tick
			want: "- - 0 1 2 3 4 5 ~6",
		},
		{
			name: "reordered within the depth", depth: 2, seq0: 100,
			script: "0|2|1|4|3|5|||",
			want:   "- - 0 1 2 3 4 5 ~6",
		},
		{
			name: "duplicates", depth: 2, seq0: 100,
			script: "0|1,1|2,0|3,3,3|4|5|||",
			want:   "- - 0 1 2 3 4 5 ~6",
			dup:    4,
		},
		{
			name: "single loss is concealed", depth: 2, seq0: 100,
			script:    "0|1|2|4|5|6|7|||",
			want:      "- - 0 1 2 ~3 4 5 6 7",
			concealed: 1,
		},
		{
			name: "late packet", depth: 2, seq0: 100,
			script:    "0|1|2|4|5|6|3|7||",
			want:      "- - 0 1 2 ~3 4 5 6 7",
			late:      1,
			concealed: 1,
		},
		{
			name: "late duplicate of a played packet", depth: 2, seq0: 100,
			script: "0|1|2|3|4|5,1|||",
			want:   "- - 0 1 2 3 4 5 ~6",
			dup:    1,
		},
		{
			name: "pause and resume (DTX): no loss, new prefill", depth: 2, seq0: 100,
			script: "0|1|2||||||3|4|5|||",
			want:   "- - 0 1 2 ~3 ~3 ~3 ~3 ~3 3 4 5 ~6",
		},
		{
			name: "resume after a gap starts at the first packet", depth: 1, seq0: 100,
			script: "0|1|||||5|6|7||",
			want:   "- 0 1 ~2 ~2 ~2 ~2 5 6 7 ~8",
		},
		{
			name: "events take sequence numbers without a gap", depth: 2, seq0: 100,
			script: "0|1|2|e3|e4|5|6|7|||",
			want:   "- - 0 1 2 5 6 7 ~8 ~8 ~8",
		},
		{
			name: "sequence numbers wrap", depth: 2, seq0: 65534,
			script:    "0|1|2|3|5|6|||",
			want:      "- - 0 1 2 3 ~4 5 6",
			concealed: 1,
		},
		{
			// (what was buffered of the old numbering is dropped)
			name: "a jump in numbering restarts the stream", depth: 1, seq0: 100,
			script: "0|1|2|1000|1001|1002||",
			want:   "- 0 1 ~1000 1000 1001 1002 ~1003",
		},
		{
			name: "a burst beyond the depth is shed", depth: 1, seq0: 100,
			script:    "0|1,2,3,4,5,6,7,8||||||",
			want:      "- 5 6 7 8 ~9 ~9 ~9",
			discarded: 5,
		},
		{
			name: "nothing before the first packet", depth: 2, seq0: 100,
			script: "|||0|1|2",
			want:   "- - - - - 0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, j := runJB(t, tc.depth, tc.seq0, steps(tc.script))
			if got != tc.want {
				t.Errorf("frames\n got %s\nwant %s", got, tc.want)
			}
			if j.late != tc.late || j.duplicates != tc.dup || j.concealed != tc.concealed || j.discarded != tc.discarded {
				t.Errorf("late %d, duplicates %d, concealed %d, discarded %d; want %d, %d, %d, %d",
					j.late, j.duplicates, j.concealed, j.discarded, tc.late, tc.dup, tc.concealed, tc.discarded)
			}
		})
	}
}

// A lost frame is bridged by the previous one at half amplitude, and a
// longer gap fades to silence.
func TestJitterConcealment(t *testing.T) {
	j := &jitterBuffer{depth: 1}
	out := make([]int16, FrameSamples)
	j.push(0, 0, lawMu, frameOf(0), true)
	j.pop(out) // prefill
	j.push(1, 160, lawMu, frameOf(1), true)
	j.pop(out) // 0
	j.push(6, 960, lawMu, frameOf(6), true)
	if _, _, c, _ := j.pop(out); c || out[0] != level(1) {
		t.Fatalf("frame 1: %d concealed %v", out[0], c)
	}
	want := level(1)
	for i := 2; i < 6; i++ {
		want /= 2
		seq, _, c, ok := j.pop(out)
		if !ok || !c || seq != uint16(i) || out[0] != want || out[FrameSamples-1] != want {
			t.Errorf("frame %d: seq %d concealed %v level %d, want %d", i, seq, c, out[0], want)
		}
	}
	if _, _, c, _ := j.pop(out); c || out[0] != level(6) {
		t.Errorf("frame 6: %d concealed %v", out[0], c)
	}
}

func BenchmarkJitterBuffer(b *testing.B) {
	j := &jitterBuffer{depth: 3}
	out := make([]int16, FrameSamples)
	p := frameOf(1)
	var seq uint16
	for b.Loop() {
		j.push(seq, uint32(seq)*FrameSamples, lawMu, p, true)
		j.pop(out)
		seq++
	}
}
