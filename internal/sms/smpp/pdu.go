package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Command ids (SMPP 3.4 §5.1.2.1) used here.
const (
	cmdGenericNack         uint32 = 0x80000000
	cmdSubmitSM            uint32 = 0x00000004
	cmdSubmitSMResp        uint32 = 0x80000004
	cmdDeliverSM           uint32 = 0x00000005
	cmdDeliverSMResp       uint32 = 0x80000005
	cmdUnbind              uint32 = 0x00000006
	cmdUnbindResp          uint32 = 0x80000006
	cmdBindTransceiver     uint32 = 0x00000009
	cmdBindTransceiverResp uint32 = 0x80000009
	cmdEnquireLink         uint32 = 0x00000015
	cmdEnquireLinkResp     uint32 = 0x80000015
	cmdAlertNotification   uint32 = 0x00000102
)

// respBit is set in the command id of every response.
const respBit uint32 = 0x80000000

// Command statuses (SMPP 3.4 §5.1.3) named here.
const (
	statusOK         uint32 = 0x00000000
	statusInvCmdID   uint32 = 0x00000003
	statusSysErr     uint32 = 0x00000008
	statusMsgQFul    uint32 = 0x00000014
	statusThrottled  uint32 = 0x00000058
	statusTAppn      uint32 = 0x00000064
	statusBindFail   uint32 = 0x0000000D
	statusInvPaswd   uint32 = 0x0000000E
	statusInvSysID   uint32 = 0x0000000F
	statusAlyBnd     uint32 = 0x00000005
	statusInvMsgLen  uint32 = 0x00000001
	statusInvDstAddr uint32 = 0x0000000B
)

// Optional parameter tags (SMPP 3.4 §5.3.2) used here.
const (
	tagReceiptedMessageID uint16 = 0x001E
	tagNetworkErrorCode   uint16 = 0x0423
	tagMessagePayload     uint16 = 0x0424
	tagMessageState       uint16 = 0x0427
)

// headerLen is the length of a PDU header.
const headerLen = 16

// maxPDU bounds the command_length of a PDU read: enough for a 64 KiB
// message_payload, far below anything that could exhaust memory.
const maxPDU = 70 << 10

// errFraming means the peer sent a command_length that cannot be right; the
// connection cannot be resynchronised after it.
var errFraming = errors.New("smpp: bad command_length")

// pdu is one SMPP protocol data unit.
type pdu struct {
	id     uint32
	status uint32
	seq    uint32
	body   []byte
}

// readPDU reads one PDU from r.
func readPDU(r io.Reader) (pdu, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return pdu{}, err
	}
	n := binary.BigEndian.Uint32(h[0:])
	if n < headerLen || n > maxPDU {
		return pdu{}, errFraming
	}
	p := pdu{
		id:     binary.BigEndian.Uint32(h[4:]),
		status: binary.BigEndian.Uint32(h[8:]),
		seq:    binary.BigEndian.Uint32(h[12:]),
		body:   make([]byte, n-headerLen),
	}
	if _, err := io.ReadFull(r, p.body); err != nil {
		return pdu{}, err
	}
	return p, nil
}

// bytes returns p encoded.
func (p pdu) bytes() []byte {
	b := make([]byte, headerLen, headerLen+len(p.body))
	binary.BigEndian.PutUint32(b[0:], uint32(headerLen+len(p.body)))
	binary.BigEndian.PutUint32(b[4:], p.id)
	binary.BigEndian.PutUint32(b[8:], p.status)
	binary.BigEndian.PutUint32(b[12:], p.seq)
	return append(b, p.body...)
}

// builder appends the fields of a PDU body.
type builder []byte

// cstring appends s and its terminating NUL (a C-Octet String).
func (b *builder) cstring(s string) { *b = append(append(*b, s...), 0) }

// octet appends one integer octet.
func (b *builder) octet(v byte) { *b = append(*b, v) }

// tlv appends an optional parameter.
func (b *builder) tlv(tag uint16, v []byte) {
	*b = binary.BigEndian.AppendUint16(*b, tag)
	*b = binary.BigEndian.AppendUint16(*b, uint16(len(v)))
	*b = append(*b, v...)
}

// parser reads the fields of a PDU body; after the first malformed field every
// read returns the zero value and err is set.
type parser struct {
	b   []byte
	err error
}

// cstring reads a C-Octet String of at most max octets, NUL included.
func (p *parser) cstring(max int) string {
	if p.err != nil {
		return ""
	}
	for i := 0; i < len(p.b) && i < max; i++ {
		if p.b[i] == 0 {
			s := string(p.b[:i])
			p.b = p.b[i+1:]
			return s
		}
	}
	p.err = fmt.Errorf("smpp: unterminated or too long C-Octet String")
	return ""
}

// octet reads one integer octet.
func (p *parser) octet() byte {
	if p.err != nil || len(p.b) < 1 {
		p.err = errors.New("smpp: short body")
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

// octets reads n octets.
func (p *parser) octets(n int) []byte {
	if p.err != nil || len(p.b) < n {
		p.err = errors.New("smpp: short body")
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

// tlvs reads the optional parameters that end a body.
func (p *parser) tlvs() map[uint16][]byte {
	m := map[uint16][]byte{}
	for p.err == nil && len(p.b) > 0 {
		if len(p.b) < 4 {
			p.err = errors.New("smpp: short optional parameter")
			return m
		}
		tag := binary.BigEndian.Uint16(p.b)
		n := int(binary.BigEndian.Uint16(p.b[2:]))
		p.b = p.b[4:]
		m[tag] = p.octets(n)
	}
	return m
}

// bindBody returns the body of a bind_transceiver (SMPP 3.4 §4.1.5).
func bindBody(systemID, password, systemType string) []byte {
	var b builder
	b.cstring(systemID)
	b.cstring(password)
	b.cstring(systemType)
	b.octet(0x34) // interface_version
	b.octet(0)    // addr_ton
	b.octet(0)    // addr_npi
	b.cstring("") // address_range
	return b
}

// address is a TON, NPI and address triple.
type address struct {
	ton, npi byte
	addr     string
}

// shortMessageMax is the most a short_message may hold; a longer text goes in a
// message_payload optional parameter instead.
const shortMessageMax = 254

// submitBody returns the body of a submit_sm (SMPP 3.4 §4.4.1) asking for a
// delivery receipt. A text longer than one SMS (more than 160 GSM septets or 140
// octets of UCS-2) is sent whole in message_payload for the SMSC to split.
func submitBody(src, dst address, coding byte, text []byte, single bool) []byte {
	var b builder
	b.cstring("") // service_type
	b.octet(src.ton)
	b.octet(src.npi)
	b.cstring(src.addr)
	b.octet(dst.ton)
	b.octet(dst.npi)
	b.cstring(dst.addr)
	b.octet(0)    // esm_class: default mode and type
	b.octet(0)    // protocol_id
	b.octet(0)    // priority_flag
	b.cstring("") // schedule_delivery_time: now
	b.cstring("") // validity_period: the SMSC's default
	b.octet(1)    // registered_delivery: receipt on success or failure
	b.octet(0)    // replace_if_present_flag
	b.octet(coding)
	b.octet(0) // sm_default_msg_id
	if single && len(text) <= shortMessageMax {
		b.octet(byte(len(text)))
		b = append(b, text...)
		return b
	}
	b.octet(0) // sm_length: the text is in message_payload
	b.tlv(tagMessagePayload, text)
	return b
}

// deliverSM is the part of a deliver_sm (SMPP 3.4 §4.6.1) read here.
type deliverSM struct {
	esmClass     byte
	dataCoding   byte
	shortMessage []byte
	tlvs         map[uint16][]byte
}

// parseDeliverSM decodes a deliver_sm body.
func parseDeliverSM(body []byte) (deliverSM, error) {
	p := parser{b: body}
	p.cstring(6) // service_type
	p.octet()    // source_addr_ton
	p.octet()    // source_addr_npi
	p.cstring(21)
	p.octet() // dest_addr_ton
	p.octet() // dest_addr_npi
	p.cstring(21)
	var d deliverSM
	d.esmClass = p.octet()
	p.octet()     // protocol_id
	p.octet()     // priority_flag
	p.cstring(17) // schedule_delivery_time
	p.cstring(17) // validity_period
	p.octet()     // registered_delivery
	p.octet()     // replace_if_present_flag
	d.dataCoding = p.octet()
	p.octet() // sm_default_msg_id
	d.shortMessage = p.octets(int(p.octet()))
	d.tlvs = p.tlvs()
	return d, p.err
}
