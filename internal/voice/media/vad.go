package media

import (
	"math"
	"time"
)

// Event is what the VAD reports after a frame.
type Event uint8

// The VAD's events.
const (
	// None means nothing changed.
	None Event = iota
	// SpeechStart means the caller started speaking: time for barge-in.
	SpeechStart
	// SpeechEnd means the caller stopped speaking for EndSilence: the
	// end of their turn.
	SpeechEnd
)

// String returns the event's name.
func (e Event) String() string {
	switch e {
	case SpeechStart:
		return "SpeechStart"
	case SpeechEnd:
		return "SpeechEnd"
	}
	return "None"
}

// VADConfig tunes a VAD. Zero fields take the defaults.
type VADConfig struct {
	// StartMargin is how far above the noise floor, in dB, a frame must be
	// to count toward speech. Default 12.
	StartMargin float64
	// StopMargin is how far above the noise floor a frame must stay for
	// speech to go on; below it, frames count as silence. Default 6.
	StopMargin float64
	// MinLevel, in dBFS, is the least energy a speech frame has however
	// quiet the line. Default -45.
	MinLevel float64
	// MinSpeech is how long frames must count toward speech before
	// SpeechStart; shorter clicks and bumps are ignored. Default 100 ms.
	MinSpeech time.Duration
	// EndSilence is the hangover: how long speech must be followed by
	// silence before SpeechEnd ends the turn. Default 700 ms.
	EndSilence time.Duration
}

func (c VADConfig) withDefaults() VADConfig {
	if c.StartMargin == 0 {
		c.StartMargin = 12
	}
	if c.StopMargin == 0 {
		c.StopMargin = 6
	}
	c.StopMargin = min(c.StopMargin, c.StartMargin)
	if c.MinLevel == 0 {
		c.MinLevel = -45
	}
	if c.MinSpeech == 0 {
		c.MinSpeech = 100 * time.Millisecond
	}
	if c.EndSilence == 0 {
		c.EndSilence = 700 * time.Millisecond
	}
	return c
}

// The noise floor is the least frame energy of the last floorBlocks blocks
// of floorBlockLen frames (3 s): it follows a change of noise within that
// time, and speech, which always has pauses, does not raise it. It assumes
// nothing before the first frame, so a noisy line is not taken for speech
// at the start of a call; speech from the very first frame is detected at
// its first pause, a few hundred milliseconds late.
const (
	floorBlockLen = 10
	floorBlocks   = 15
	silentFloor   = -90.0 // dBFS, the energy given to digital silence
)

// A VAD detects speech in a stream of 20 ms frames by their energy against
// an adaptive noise floor. It is not safe for concurrent use.
type VAD struct {
	cfg         VADConfig
	minFrames   int // frames toward speech for SpeechStart
	endFrames   int // frames of silence for SpeechEnd
	speaking    bool
	run, quiet  int
	blockMin    [floorBlocks]float64 // ring of per-block minimums
	block, seen int                  // current block index, frames in it
}

// NewVAD returns a VAD in the silent state.
func NewVAD(cfg VADConfig) *VAD {
	cfg = cfg.withDefaults()
	v := &VAD{
		cfg:       cfg,
		minFrames: max(1, int((cfg.MinSpeech+FrameDuration-1)/FrameDuration)),
		endFrames: max(1, int((cfg.EndSilence+FrameDuration-1)/FrameDuration)),
	}
	for i := range v.blockMin {
		v.blockMin[i] = math.Inf(1) // not seen yet
	}
	return v
}

// Speaking reports whether the VAD is between SpeechStart and SpeechEnd.
func (v *VAD) Speaking() bool { return v.speaking }

// Process takes the next frame (FrameSamples samples) and returns the
// event it causes, if any.
func (v *VAD) Process(frame []int16) Event {
	level := Level(frame)
	v.observe(level)
	floor := v.floor()
	start := max(floor+v.cfg.StartMargin, v.cfg.MinLevel)
	stop := start - (v.cfg.StartMargin - v.cfg.StopMargin)
	if !v.speaking {
		switch {
		case level >= start:
			v.run++
		case level < stop:
			v.run = 0
		}
		if v.run >= v.minFrames {
			v.speaking, v.quiet = true, 0
			return SpeechStart
		}
		return None
	}
	if level >= stop {
		v.quiet = 0
		return None
	}
	v.quiet++
	if v.quiet >= v.endFrames {
		v.speaking, v.run = false, 0
		return SpeechEnd
	}
	return None
}

// observe feeds a frame's level to the noise floor.
func (v *VAD) observe(level float64) {
	if v.seen == floorBlockLen {
		v.block = (v.block + 1) % floorBlocks
		v.seen = 0
	}
	if v.seen == 0 {
		v.blockMin[v.block] = level
	} else {
		v.blockMin[v.block] = min(v.blockMin[v.block], level)
	}
	v.seen++
}

// floor returns the noise floor in dBFS.
func (v *VAD) floor() float64 {
	f := v.blockMin[0]
	for _, m := range v.blockMin[1:] {
		f = min(f, m)
	}
	return f
}

// Level returns the energy of pcm in dBFS (0 for a full-scale square
// wave, -3 for a full-scale sine), or -90 for silence.
func Level(pcm []int16) float64 {
	if len(pcm) == 0 {
		return silentFloor
	}
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	mean := sum / float64(len(pcm)) / (32768 * 32768)
	if mean <= 0 {
		return silentFloor
	}
	return max(10*math.Log10(mean), silentFloor)
}
