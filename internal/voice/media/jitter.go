package media

// The jitter buffer turns packets that arrive unevenly, out of order, twice
// or not at all into one frame per 20 ms tick. It is indexed by RTP
// sequence number in a ring and has three states:
//
//   - prefill: after the first packet of a talkspurt it waits out depth,
//     so every packet gets that much slack before its turn;
//   - play: each tick plays the packet due next; a gap with later packets
//     already buffered is a loss, concealed by fading out the last frame;
//   - idle: when nothing is buffered (the sender paused, or a delay spike)
//     ticks emit fading, then silent frames without consuming a sequence
//     number; the next packet starts a new prefill.
//
// Non-audio packets (RFC 4733 events) occupy their sequence numbers as
// "skip" slots so that an event between two audio packets is not mistaken
// for a loss. The buffer does no locking and reads no clock: the Session
// calls push from its reader and pop from its ticker under one mutex.

// ringSize bounds how far ahead of playout a packet may be (640 ms).
const ringSize = 32

type slotState uint8

const (
	slotEmpty  slotState = iota // stale or never used
	slotAudio                   // audio waiting for its tick
	slotSkip                    // a non-audio packet holding a sequence number
	slotPlayed                  // played, skipped or discarded
	slotMissed                  // concealed because it had not arrived
)

type slot struct {
	seq     uint16
	state   slotState
	law     law
	ts      uint32
	payload [FrameSamples]byte
}

// pushResult says what push did with a packet.
type pushResult uint8

const (
	pushed    pushResult = iota // buffered (or recorded, for a skip)
	duplicate                   // seen before: dropped
	late                        // arrived after its tick: dropped
)

type jitterBuffer struct {
	depth int // prefill in ticks
	ring  [ringSize]slot

	have     bool   // next is meaningful: a packet has been seen
	playing  bool   // in prefill or play, not idle
	wait     int    // prefill ticks left
	next     uint16 // sequence number due next (the lateness boundary)
	nextTS   uint32 // its timestamp, for concealed frames
	buffered int    // audio slots at or after next

	started bool                // a frame has been emitted
	last    [FrameSamples]int16 // the last frame emitted, for concealment

	late, duplicates, concealed, discarded uint64
}

func (j *jitterBuffer) slot(seq uint16) *slot { return &j.ring[seq%ringSize] }

// push stores a packet. audio is false for a packet that only occupies its
// sequence number; payload must then be nil.
func (j *jitterBuffer) push(seq uint16, ts uint32, l law, payload []byte, audio bool) pushResult {
	if !j.have {
		j.have, j.next, j.nextTS = true, seq, ts
	}
	d := int16(seq - j.next)
	if d < 0 {
		s := j.slot(seq)
		if d > -ringSize && s.seq == seq && (s.state == slotPlayed || s.state == slotSkip) {
			j.duplicates++
			return duplicate
		}
		j.late++
		return late
	}
	if d >= ringSize { // a jump: the sender restarted its numbering, or a long outage
		j.ring = [ringSize]slot{}
		j.next, j.nextTS, j.buffered, j.playing = seq, ts, 0, false
	}
	s := j.slot(seq)
	if s.seq == seq && (s.state == slotAudio || s.state == slotSkip) {
		j.duplicates++
		return duplicate
	}
	s.seq, s.ts, s.law = seq, ts, l
	if audio {
		s.state = slotAudio
		copy(s.payload[:], payload)
		j.buffered++
	} else {
		s.state = slotSkip
	}
	if !j.playing && audio {
		// Counting the tick that may come at once, depth+1 ticks leave
		// every packet of the talkspurt at least depth of slack.
		j.playing, j.wait = true, j.depth+1
	}
	return pushed
}

// pop fills out with the frame for this tick. ok is false before the first
// frame of the session is due; after that every tick yields a frame.
func (j *jitterBuffer) pop(out []int16) (seq uint16, ts uint32, concealed, ok bool) {
	switch {
	case !j.have || !j.playing:
		return j.idle(out)
	case j.wait > 0:
		j.wait--
		if j.wait > 0 {
			return j.idle(out)
		}
		j.startPlay()
		if !j.started && j.buffered == 0 {
			return j.idle(out)
		}
	}
	j.passSkips()
	for j.buffered > j.depth+3 { // the sender runs fast or a burst came in: catch up
		s := j.slot(j.next)
		if s.seq == j.next && s.state == slotAudio {
			j.buffered--
			j.discarded++
		}
		s.seq, s.state = j.next, slotPlayed
		j.next++
		j.passSkips()
	}
	s := j.slot(j.next)
	if s.seq == j.next && s.state == slotAudio {
		s.law.decode(out, s.payload[:])
		copy(j.last[:], out)
		s.state = slotPlayed
		j.buffered--
		seq, ts = j.next, s.ts
		j.next, j.nextTS = j.next+1, s.ts+FrameSamples
		j.started = true
		return seq, ts, false, true
	}
	if j.buffered == 0 { // nothing to play: the talkspurt ended or a delay spike
		j.playing = false
		return j.idle(out)
	}
	s.seq, s.state = j.next, slotMissed
	seq, ts = j.next, j.nextTS
	j.next, j.nextTS = j.next+1, j.nextTS+FrameSamples
	j.concealed++
	j.fade(out)
	return seq, ts, true, true
}

// startPlay ends a prefill: playout starts at the earliest buffered audio,
// which after an idle spell may lie past next.
func (j *jitterBuffer) startPlay() {
	for d := range uint16(ringSize) {
		s := j.slot(j.next + d)
		if s.seq == j.next+d && s.state == slotAudio {
			j.next += d
			j.nextTS = s.ts
			return
		}
	}
}

// passSkips moves next over slots held by non-audio packets.
func (j *jitterBuffer) passSkips() {
	for range ringSize {
		s := j.slot(j.next)
		if s.seq != j.next || s.state != slotSkip {
			return
		}
		s.state = slotPlayed
		j.next++
		j.nextTS += FrameSamples
	}
}

// idle emits a fading frame while nothing is being played.
func (j *jitterBuffer) idle(out []int16) (seq uint16, ts uint32, concealed, ok bool) {
	if !j.started {
		return 0, 0, false, false
	}
	j.fade(out)
	return j.next, j.nextTS, true, true
}

// fade halves the last frame and emits it: a single loss is bridged by a
// quieter repetition, and a longer gap decays to silence within a few frames.
func (j *jitterBuffer) fade(out []int16) {
	for i, v := range j.last {
		j.last[i] = v / 2
	}
	copy(out, j.last[:])
}
