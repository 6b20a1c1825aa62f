package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"

	"github.com/hemlabs/hem/auth"
)

// h2cReadOverhead is what the shared port holds of a message beyond its
// bytes: gRPC reads a body into 16 KiB buffers, and a message's first and
// last buffers may be mostly empty.
const h2cReadOverhead = 32 << 10

// GRPCAndHTTP serves gRPC and HTTP on one listener, e.g. on Cloud Run:
// requests with content-type application/grpc go to g, the rest to h. Serve
// it with HTTP/2 over cleartext enabled (http.Server.Protocols with
// SetUnencryptedHTTP2) so gRPC clients can connect without TLS. g must be
// the server c registered on (RegisterGRPC).
//
// gRPC's ServeHTTP reads a request's body as fast as it arrives, whatever
// the handler has read of it; so each gRPC message is charged here, to the
// producer's share and the in-flight budget as the codec would charge it,
// before its bytes are read, and the codec takes that charge over. A
// message the budget has no room for is not read: the call ends with
// RESOURCE_EXHAUSTED (a CollectStream stream too).
func (c *Collector) GRPCAndHTTP(g *grpc.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			h.ServeHTTP(w, r)
			return
		}
		b := c.newH2CBody(r)
		defer b.finish()
		r = r.WithContext(context.WithValue(r.Context(), h2cBodyKey{}, b))
		r.Body = b
		g.ServeHTTP(w, r)
	})
}

type h2cBodyKey struct{}

// h2cBodyOf is the shared port's body reader of the request ctx belongs
// to, nil on gRPC's own port.
func h2cBodyOf(ctx context.Context) *h2cBody {
	b, _ := ctx.Value(h2cBodyKey{}).(*h2cBody)
	return b
}

// h2cBody passes a gRPC request's body on message by message, charging
// each message before reading its bytes.
type h2cBody struct {
	c    *Collector
	p    *auth.Principal // nil: no producer (the health service, or refused later); charged to the budget alone
	body io.ReadCloser
	max  int // the largest message gRPC receives

	// Read's state; gRPC reads from one goroutine.
	hdr  [5]byte // a message's prefix: compressed flag, length
	hdrN int     // bytes of hdr read
	pend []byte  // of hdr, not passed on yet
	left int     // bytes of the current message not passed on yet
	err  error   // ends every later Read

	mu      sync.Mutex
	charges []h2cCharge // of messages read, not yet taken by the codec, oldest first
	closed  bool
}

type h2cCharge struct {
	n       int
	release func()
	// refusal is why the message was not read (it was passed on empty),
	// reason its metric label.
	refusal error
	reason  string
}

var errH2CDone = errors.New("collector: request ended")

func (c *Collector) newH2CBody(r *http.Request) *h2cBody {
	// The handlers take p over; one refused here is refused there again,
	// with its reason, before anything is read.
	p, err := c.authenticate(r.Context(), credentials{apiKey: r.Header.Get(auth.APIKeyHeader), bearer: bearerToken(r.Header.Get("Authorization"))})
	if err != nil {
		p = nil
	}
	return &h2cBody{c: c, p: p, body: r.Body, max: c.cfg.limits.MaxBatchBytes + grpcOverhead}
}

// Read passes the body on, up to the end of the current message: a
// message's bytes are read once it is charged, and a read fills p (gRPC's
// 16 KiB buffer) unless the message ends first.
func (b *h2cBody) Read(p []byte) (int, error) {
	if b.err != nil && len(b.pend) == 0 {
		return 0, b.err
	}
	n := 0
	for n < len(p) {
		if len(b.pend) > 0 {
			k := copy(p[n:], b.pend)
			n, b.pend = n+k, b.pend[k:]
			continue
		}
		if b.err != nil {
			return n, nil
		}
		if b.left == 0 {
			if n > 0 {
				// A message ended: pass it on rather than wait for the
				// next, which may come only after the answer.
				return n, nil
			}
			if err := b.readPrefix(); err != nil {
				b.err = err
				return 0, err
			}
			continue
		}
		k, err := b.body.Read(p[n : n+min(b.left, len(p)-n)])
		n, b.left = n+k, b.left-k
		if err != nil {
			b.err = err
			return n, err
		}
		if b.left == 0 {
			return n, nil
		}
	}
	return n, nil
}

// readPrefix reads the next message's prefix and charges the message.
func (b *h2cBody) readPrefix() error {
	for b.hdrN < len(b.hdr) {
		k, err := b.body.Read(b.hdr[b.hdrN:])
		b.hdrN += k
		if err != nil && (b.hdrN < len(b.hdr) || !errors.Is(err, io.EOF)) {
			if errors.Is(err, io.EOF) && b.hdrN > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	b.hdrN = 0
	b.pend = b.hdr[:]
	size := int(binary.BigEndian.Uint32(b.hdr[1:]))
	if size > b.max {
		// gRPC refuses it by its prefix (RESOURCE_EXHAUSTED) and reads
		// no further.
		b.err = errH2CDone
		return nil
	}
	b.left = size
	return b.charge(size)
}

// charge charges a message of n bytes as the codec would (chargeMessage),
// plus what reading it holds; a producer's to its share too.
func (b *h2cBody) charge(n int) error {
	c := b.c
	budget := c.cfg.maxInflightBytes
	cost := min(int64(n)*grpcCostFactor+h2cReadOverhead, budget)
	releaseShare := func() {}
	if b.p != nil {
		full := min(int64(c.cfg.limits.MaxBatchBytes)*grpcCostFactor+h2cReadOverhead, budget)
		var err error
		if releaseShare, err = c.quotas.admitBytes(b.p, cost, full, c.cfg.limits, budget); err != nil {
			return b.refuse("quota", err)
		}
	}
	if !c.inflight.TryAcquire(cost) {
		releaseShare()
		return b.refuse("overloaded", errOverloaded())
	}
	release := func() {
		c.inflight.Release(cost)
		releaseShare()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		release()
		return errH2CDone
	}
	b.charges = append(b.charges, h2cCharge{n: n, release: release})
	return nil
}

// refuse records why a message is not read, for the codec, and passes on
// an empty message in its place and then the end of the body: the codec
// answers the refusal as it would on gRPC's own port (a CollectStream
// stream ends with it: the refused batch's events are unknown).
func (b *h2cBody) refuse(reason string, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charges = append(b.charges, h2cCharge{reason: reason, refusal: err})
	b.hdr = [5]byte{}
	b.pend, b.left, b.err = b.hdr[:], 0, io.EOF
	return nil
}

// take hands the charge of the oldest message not yet taken to the codec,
// which received it with n bytes; ok is false when there is none (or it
// was charged for another size: a compressed message), and the codec
// charges the message itself.
func (b *h2cBody) take(n int) (ch h2cCharge, ok bool) {
	if b == nil {
		return ch, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.charges) == 0 {
		return ch, false
	}
	ch = b.charges[0]
	b.charges = b.charges[1:]
	if ch.refusal == nil && ch.n != n {
		ch.release()
		return ch, false
	}
	return ch, true
}

// Close closes the body; gRPC calls it when the call ends.
func (b *h2cBody) Close() error { return b.body.Close() }

// finish gives back the charges no codec took, once the request ended.
func (b *h2cBody) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, ch := range b.charges {
		if ch.release != nil {
			ch.release()
		}
	}
	b.charges = nil
}

// charge charges the admission's message of n bytes, or takes over the
// charge (or the refusal) the shared port's reader made for it.
func (a *admission) charge(n int) (release func(), reason string, err error) {
	if ch, ok := a.h2c.take(n); ok {
		a.unread = ch.refusal != nil
		return ch.release, ch.reason, ch.refusal
	}
	return a.c.chargeMessage(a.p, n)
}
