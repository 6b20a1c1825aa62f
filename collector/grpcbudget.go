package collector

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/auth"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

// grpcCostFactor is what a gRPC request is charged per byte of its
// message, before it is decoded: the received bytes, the decoded request,
// the events' canonical form and what is published or recorded of them
// (TestGRPCPeakHeap measures it; see the README).
const grpcCostFactor = 5

// grpcOverhead is what a request message may carry beyond the batch limit
// (ids, type URLs, framing): the receive limit is the batch limit plus it.
const grpcOverhead = 1 << 20

// admission stands in for a request message between the collector's gRPC
// handlers and admissionCodec. gRPC hands the codec the received bytes of
// a message before anything decodes them, so that is where the request is
// charged: the codec charges the message's size to the producer's share
// and to the in-flight budget, and decodes it only when both had room. The
// handler authenticated the producer before asking for the message, and
// gives the charge back when it has answered.
type admission struct {
	c   *Collector
	p   *auth.Principal
	h2c *h2cBody      // the shared port's reader, which charged the message already; nil on gRPC's own port
	msg proto.Message // decoded into once admitted
	// unread: the shared port refused the message without reading it.
	unread bool
	// release gives the charge back; nil until admitted.
	release func()
	// err is the refusal, reason its metric label.
	err    error
	reason string
	// head is what the answer to a refused CollectStreamRequest needs,
	// read from the bytes without decoding them.
	head streamHead
}

// refuse gives the charge back and records the refusal.
func (a *admission) refuse(reason string, err error) {
	a.done()
	a.reason, a.err = reason, err
}

// done gives the charge back. It is safe to call more than once.
func (a *admission) done() {
	if a.release != nil {
		a.release()
		a.release = nil
	}
}

// streamHead is what peekRequest read of a request.
type streamHead struct {
	sequence uint64   // a CollectStreamRequest's
	ids      []string // the events' ids, as many as a request may hold
	events   int      // the events
	attrs    int      // the attribute entries of all events
}

// admissionCodec is gRPC's proto codec, except that it charges a request
// message handed over as an *admission before decoding it.
type admissionCodec struct{ encoding.CodecV2 }

var _ encoding.CodecV2 = admissionCodec{}

func newAdmissionCodec() admissionCodec {
	return admissionCodec{encoding.GetCodecV2(gproto.Name)}
}

func (ac admissionCodec) Unmarshal(data mem.BufferSlice, v any) error {
	a, ok := v.(*admission)
	if !ok {
		return ac.CodecV2.Unmarshal(data, v)
	}
	// Charged before the received pieces are even copied into one buffer.
	_, stream := a.msg.(*collectorv1.CollectStreamRequest)
	a.release, a.reason, a.err = a.charge(data.Len())
	if a.err != nil {
		if stream {
			buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
			a.head = peekRequest(buf.ReadOnlyData(), true, a.c.cfg.limits)
			buf.Free()
		}
		return nil
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	// Decoding more events or attributes than a request may hold would
	// cost far more than their bytes (a hundred bytes or more for an
	// event of two): refused undecoded.
	h := peekRequest(b, stream, a.c.cfg.limits)
	if lim := a.c.cfg.limits; h.events > lim.MaxBatchEvents {
		a.refuse("batch_too_large", fmt.Errorf("%w: %d events, the limit is %d per request", ErrBatchTooLarge, h.events, lim.MaxBatchEvents))
		return nil
	} else if h.attrs > maxRequestAttributes(lim) {
		a.refuse("batch_too_large", fmt.Errorf("%w: %d attributes in all, the limit is %d per request (%d per event)", ErrBatchTooLarge, h.attrs, maxRequestAttributes(lim), lim.MaxAttributes))
		return nil
	}
	return proto.Unmarshal(b, a.msg)
}

// chargeMessage charges a request message of n bytes, not yet decoded, to
// p's share and to the in-flight budget: grpcCostFactor times its size,
// never more than the whole budget, so one request can always be served
// alone. It returns the function that gives the charge back, or the
// refusal and its metric label.
func (c *Collector) chargeMessage(p *auth.Principal, n int) (release func(), reason string, err error) {
	budget := c.cfg.maxInflightBytes
	cost := min(int64(n)*grpcCostFactor, budget)
	full := min(int64(c.cfg.limits.MaxBatchBytes)*grpcCostFactor, budget)
	releaseShare, err := c.quotas.admitBytes(p, cost, full, c.cfg.limits, budget)
	if err != nil {
		return nil, "quota", err
	}
	if !c.inflight.TryAcquire(cost) {
		releaseShare()
		return nil, "overloaded", errOverloaded()
	}
	return func() {
		c.inflight.Release(cost)
		releaseShare()
	}, "", nil
}

// maxRequestAttributes bounds the attributes of all events of a request,
// counted before decoding: every event may carry its limit (one with more
// is rejected on its own, after decoding).
func maxRequestAttributes(lim Limits) int { return lim.MaxBatchEvents * lim.MaxAttributes }

// peekRequest reads an encoded CollectRequest (or CollectStreamRequest)
// without decoding it: its events' ids (and the stream's sequence), for the
// answer to a refused request, and how many events and attributes
// decoding it would build. Malformed bytes end the walk: the decoder
// refuses them.
func peekRequest(b []byte, stream bool, lim Limits) streamHead {
	var h streamHead
	eventsField := protowire.Number(1)
	if stream {
		eventsField = 2
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h
		}
		b = b[n:]
		switch {
		case stream && num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h
			}
			h.sequence = v
			b = b[n:]
		case num == eventsField && typ == protowire.BytesType:
			ev, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return h
			}
			b = b[n:]
			id, attrs := peekWireEvent(ev)
			if h.events++; h.events <= lim.MaxBatchEvents {
				h.ids = append(h.ids, id)
			}
			h.attrs += attrs
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return h
			}
			b = b[n:]
		}
	}
	return h
}

// peekWireEvent is the event_id (field 1, the last one, as a decoder keeps)
// of an encoded Event and how many attribute entries (field 4) it holds.
func peekWireEvent(b []byte) (id string, attrs int) {
	var raw []byte // converted once: ids of refused events only
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				break
			}
			raw, b = v, b[n:]
			continue
		}
		if num == 4 {
			attrs++
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		b = b[n:]
	}
	return validUTF8(string(raw)), attrs
}
