// Package devpubsub is the Pub/Sub server of the local stack ("hem dev"). It
// speaks the Pub/Sub gRPC API (the Publisher and Subscriber services) to the
// official client libraries, so hem's production code runs against it
// unchanged.
//
// It exists because pstest, which hem's tests use, is built for tests: it keeps
// every message ever published (hundreds of MiB after a few minutes of load)
// and hands out one message per streaming-pull stream every 10 ms. This
// server keeps only unacknowledged messages, bounds the backlog (Publish
// answers RESOURCE_EXHAUSTED when it is full, which the client retries), and
// wakes pullers as soon as a message arrives.
//
// With WithDir it keeps a write-ahead log: Publish answers only once its
// messages are written and fsynced (group commit: the publishes that arrive
// during one fsync share the next), and Acknowledge once the ack is. A start
// recovers topics, subscriptions and every unacknowledged message from the
// log, so a hard kill (kill -9, a power cut) at any moment loses no message
// a publisher was told is stored, and redelivers only messages whose ack was
// not yet durable. Delivery is at least once, as in Pub/Sub: a subscriber
// whose ack was not durable when the process died sees the message again.
// Leases and delivery attempts are not logged: after a restart every
// unacknowledged message is ready for delivery, counting attempts afresh.
//
// Not supported: filters, snapshots, seek, push subscriptions, exactly-once
// delivery. Ordering keys are kept on messages and delivery is first in, first
// out per subscription, but a nacked message may be redelivered after later
// ones of its key.
package devpubsub

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Option configures a Server.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	dir             string
	importFile      string
	segmentBytes    int64
	maxBacklogBytes int64
	now             func() time.Time
	meterProvider   metric.MeterProvider
}

// WithDir keeps the server's write-ahead log in dir (created if missing),
// recovering from it at start. Without it the server keeps everything in
// memory only.
func WithDir(dir string) Option { return optionFunc(func(c *config) { c.dir = dir }) }

// WithImportStateFile imports the state file an earlier version of the server
// saved (its topics, subscriptions and backlog) into a new write-ahead log,
// then removes it. It is read only when the log in WithDir is empty.
func WithImportStateFile(path string) Option {
	return optionFunc(func(c *config) { c.importFile = path })
}

// WithSegmentBytes sets the size at which the write-ahead log starts a new
// segment file (default 16 MiB). The log reclaims space a segment at a time.
func WithSegmentBytes(n int64) Option {
	return optionFunc(func(c *config) { c.segmentBytes = n })
}

// WithMaxBacklogBytes bounds the bytes of unacknowledged messages over all
// subscriptions (default 512 MiB). Publishing beyond it fails with
// RESOURCE_EXHAUSTED until subscribers catch up.
func WithMaxBacklogBytes(n int64) Option {
	return optionFunc(func(c *config) { c.maxBacklogBytes = n })
}

// WithMeterProvider exports every subscription's backlog, oldest
// unacknowledged age and dead-letter depth as gauges (see Stats); the
// default exports nothing.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }

// ErrBacklogFull is the cause of RESOURCE_EXHAUSTED publish errors.
var ErrBacklogFull = errors.New("backlog full: subscribers are behind")

// Server is an in-process Pub/Sub server. It is safe for concurrent use.
type Server struct {
	cfg config

	mu        sync.Mutex
	topics    map[string]*topic
	subs      map[string]*subscription
	subsByNum map[uint64]*subscription // the log names subscriptions by number
	nextID    uint64
	nextSub   uint64
	backlog   int64 // bytes of unacknowledged messages, all subscriptions
	log       *wal  // nil without WithDir

	grpc *grpc.Server
	lis  net.Listener
	stop chan struct{}
	done sync.WaitGroup
}

type topic struct {
	proto *pubsubpb.Topic
	subs  map[string]*subscription
}

type message struct {
	id   string
	num  uint64 // id as a number, for the log
	size int64
	// refs counts the subscriptions the message is still to be delivered
	// to, and seg is the log segment holding its latest record (nil
	// without a log, or once every delivery is acknowledged).
	refs int32
	seg  *segment
	// field is the message encoded once, as field 2 of a ReceivedMessage:
	// pulls send these bytes instead of encoding the message (and its
	// attribute map) again for every delivery. raw is the message itself,
	// within field, for checkpoints and dead-lettering.
	field []byte
	raw   []byte
	// published is the publish time in Unix nanoseconds (0 if unknown),
	// kept so that Stats need not read it out of raw for every message.
	published int64
}

// receivedMessageField is the number of ReceivedMessage.message.
const receivedMessageField = 2

// PubsubMessage field numbers the server sets.
const (
	messageIDField   = 3
	publishTimeField = 4
)

// newMessage keeps the message whose encoding is raw.
func newMessage(id string, size int64, raw []byte) *message {
	buf := make([]byte, fieldRoom, fieldRoom+len(raw))
	m := messageIn(id, size, append(buf, raw...))
	if t := publishTime(raw); !t.IsZero() {
		m.published = t.UnixNano()
	}
	return m
}

// fieldRoom is the room left before a message's bytes for the tag and
// length that make it field 2 of a ReceivedMessage (a message is far below
// 4 GiB), so that the field is built in place.
const fieldRoom = 1 + binary.MaxVarintLen32

// messageIn keeps the message encoded in buf after fieldRoom bytes, and
// writes its field's tag and length into that room.
func messageIn(id string, size int64, buf []byte) *message {
	raw := buf[fieldRoom:]
	var head [fieldRoom]byte
	h := protowire.AppendVarint(protowire.AppendTag(head[:0], receivedMessageField, protowire.BytesType), uint64(len(raw)))
	start := fieldRoom - len(h)
	copy(buf[start:], h)
	return &message{id: id, size: size, field: buf[start:], raw: raw}
}

// prepared is a message to publish, encoded without its id before the
// server lock is taken: buf holds fieldRoom bytes, then the message, with
// room for the id.
type prepared struct {
	size int64
	buf  []byte
	at   int64 // the publish time in buf, Unix nanoseconds
}

// idRoom is the room prepare leaves for the id field (a tag, a length and
// up to 20 digits).
const idRoom = 24

// prepare encodes msgs as published at now, less their ids.
func prepare(msgs []*pubsubpb.PubsubMessage, now time.Time) []prepared {
	at := timestamppb.New(now)
	out := make([]prepared, len(msgs))
	for i, pm := range msgs {
		m := &pubsubpb.PubsubMessage{Data: pm.GetData(), Attributes: pm.GetAttributes(), PublishTime: at, OrderingKey: pm.GetOrderingKey()}
		buf, _ := proto.MarshalOptions{}.MarshalAppend(make([]byte, fieldRoom, fieldRoom+proto.Size(m)+idRoom), m)
		out[i] = prepared{size: int64(proto.Size(pm)), buf: buf, at: now.UnixNano()}
	}
	return out
}

// prepareRaw is prepare for messages still encoded, as they came in a
// PublishRequest: each is copied with its publish time appended, without
// decoding its attribute map. A message id or publish time the publisher
// set is dropped, as prepare drops them.
func prepareRaw(msgs [][]byte, now time.Time) ([]prepared, error) {
	at := appendTimestamp(nil, now)
	out := make([]prepared, len(msgs))
	for i, raw := range msgs {
		buf := make([]byte, fieldRoom, fieldRoom+len(raw)+len(at)+idRoom)
		for b := raw; len(b) > 0; {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return nil, status.Error(codes.InvalidArgument, "malformed message")
			}
			m := protowire.ConsumeFieldValue(num, typ, b[n:])
			if m < 0 {
				return nil, status.Error(codes.InvalidArgument, "malformed message")
			}
			if num != messageIDField && num != publishTimeField {
				buf = append(buf, b[:n+m]...)
			}
			b = b[n+m:]
		}
		buf = append(buf, at...)
		out[i] = prepared{size: int64(len(raw)), buf: buf, at: now.UnixNano()}
	}
	return out, nil
}

// appendTimestamp appends t as PubsubMessage.publish_time.
func appendTimestamp(b []byte, t time.Time) []byte {
	var ts []byte
	if s := t.Unix(); s != 0 {
		ts = protowire.AppendVarint(protowire.AppendTag(ts, 1, protowire.VarintType), uint64(s))
	}
	if n := t.Nanosecond(); n != 0 {
		ts = protowire.AppendVarint(protowire.AppendTag(ts, 2, protowire.VarintType), uint64(n))
	}
	b = protowire.AppendTag(b, publishTimeField, protowire.BytesType)
	return protowire.AppendBytes(b, ts)
}

type delivery struct {
	msg      *message
	attempts int32
}

type lease struct {
	d        *delivery
	deadline time.Time
	stream   *stream // nil for unary pulls
}

type subscription struct {
	num         uint64 // fixed at creation, never reused
	proto       *pubsubpb.Subscription
	topic       *topic
	ackDeadline time.Duration
	queue       deque
	leases      map[string]*lease
	// nextExpiry is no later than the earliest lease deadline, so that
	// expireLeases skips its scan of every lease until then.
	nextExpiry time.Time
	wake       chan struct{} // closed when messages become available
}

// New returns a server; Start or Register makes it reachable.
func New(opts ...Option) (*Server, error) {
	cfg := config{maxBacklogBytes: 512 << 20, segmentBytes: 16 << 20, now: time.Now}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.maxBacklogBytes <= 0 {
		return nil, errors.New("devpubsub: max backlog bytes must be positive")
	}
	if cfg.segmentBytes <= 0 {
		return nil, errors.New("devpubsub: segment bytes must be positive")
	}
	s := &Server{
		cfg:       cfg,
		topics:    map[string]*topic{},
		subs:      map[string]*subscription{},
		subsByNum: map[uint64]*subscription{},
		stop:      make(chan struct{}),
	}
	if cfg.dir != "" {
		if err := s.openLog(cfg.dir); err != nil {
			s.closeLog()
			return nil, err
		}
	}
	if cfg.meterProvider != nil {
		if err := s.registerMetrics(cfg.meterProvider); err != nil {
			s.closeLog()
			return nil, err
		}
	}
	s.done.Add(1)
	go s.maintain()
	return s, nil
}

// Register adds the Publisher and Subscriber services to g.
func (s *Server) Register(g *grpc.Server) {
	g.RegisterService(publisherDesc(), publisher{s})
	pubsubpb.RegisterSubscriberServer(g, subscriber{s: s})
}

// Start listens on addr (e.g. 127.0.0.1:8085) and serves until Close.
func (s *Server) Start(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devpubsub: %w", err)
	}
	s.lis = lis
	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(32<<20), grpc.ForceServerCodecV2(rawCodec{encoding.GetCodecV2(grpcproto.Name)}),
		// Long-lived workers keep their grown stacks, where a goroutine per
		// call grows one for every publish, pull and ack (as in the
		// collector). Publishes and acks wait for the log's fsync, so the
		// pool is sized for calls in flight; beyond it gRPC starts a
		// goroutine.
		grpc.NumStreamWorkers(streamWorkers))
	s.Register(s.grpc)
	go func() { _ = s.grpc.Serve(lis) }()
	return nil
}

// streamWorkers is the gRPC handler pool of Start's server.
const streamWorkers = 256

// rawCodec is gRPC's proto codec, except that a request read into an Empty
// (a Publish, see publisherDesc) keeps its bytes in one copy, where
// decoding would append them field by field to the unknown fields.
type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if e, ok := v.(*emptypb.Empty); ok {
		e.ProtoReflect().SetUnknown(data.Materialize())
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// Addr is the address Start listens on.
func (s *Server) Addr() string {
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// Close stops serving, writes what the log has pending and closes it.
func (s *Server) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	s.done.Wait()
	if s.grpc != nil {
		s.grpc.Stop() // ends streaming pulls; their leases return to the queues
	}
	return s.closeLog()
}

// closeLog lets the committer write what is appended, then closes the log.
func (s *Server) closeLog() error {
	w := s.log
	if w == nil {
		return nil
	}
	s.mu.Lock()
	w.stop = true
	w.wake.Broadcast()
	s.mu.Unlock()
	if w.running {
		<-w.exited
	}
	var err error
	if w.f != nil {
		err = w.f.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("devpubsub: %w", w.err)
	}
	if err != nil {
		return fmt.Errorf("devpubsub: close the log: %w", err)
	}
	return nil
}

// Backlog reports the unacknowledged messages of a subscription (short or
// full name), including those leased to subscribers.
func (s *Server) Backlog(sub string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.findSub(sub)
	if err != nil {
		return 0, err
	}
	return sb.queue.len() + len(sb.leases), nil
}

func (s *Server) maintain() {
	defer s.done.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		now := s.cfg.now()
		for _, sb := range s.subs {
			s.expireLeases(sb, now)
		}
		s.mu.Unlock()
	}
}

// expireLeases returns messages whose ack deadline passed to the queue.
// Called with s.mu held.
func (s *Server) expireLeases(sb *subscription, now time.Time) {
	if now.Before(sb.nextExpiry) {
		return
	}
	var expired bool
	next := now.Add(time.Hour)
	for id, l := range sb.leases {
		if !now.After(l.deadline) {
			if l.deadline.Before(next) {
				next = l.deadline
			}
			continue
		}
		delete(sb.leases, id)
		if l.stream != nil {
			l.stream.outstanding--
		}
		sb.queue.pushFront(l.d)
		expired = true
	}
	sb.nextExpiry = next
	if expired {
		sb.signal()
	}
}

// leased notes a lease deadline for expireLeases.
func (sb *subscription) leased(deadline time.Time) {
	if deadline.Before(sb.nextExpiry) {
		sb.nextExpiry = deadline
	}
}

func (sb *subscription) signal() {
	if sb.wake != nil {
		close(sb.wake)
		sb.wake = nil
	}
}

// waitCh returns a channel closed when sb may have messages. Called with the
// lock held.
func (sb *subscription) waitCh() chan struct{} {
	if sb.wake == nil {
		sb.wake = make(chan struct{})
	}
	return sb.wake
}

func (s *Server) findSub(name string) (*subscription, error) {
	if sb, ok := s.subs[name]; ok {
		return sb, nil
	}
	for full, sb := range s.subs {
		if strings.HasSuffix(full, "/subscriptions/"+name) {
			return sb, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "subscription %q not found", name)
}

// publish appends msgs (see prepare) to every subscription of t, giving
// them ids. With a log, the messages are delivered once the returned batch
// is durable, and the publisher is answered then. Called with s.mu held.
func (s *Server) publish(t *topic, msgs []prepared) ([]string, *commitBatch, error) {
	var size int64
	for _, m := range msgs {
		size += m.size
	}
	if len(t.subs) > 0 && s.backlog+size*int64(len(t.subs)) > s.cfg.maxBacklogBytes {
		return nil, nil, status.Error(codes.ResourceExhausted, ErrBacklogFull.Error())
	}
	if s.log != nil && s.log.err != nil {
		return nil, nil, status.Errorf(codes.Unavailable, "%v: %v", ErrLogFailed, s.log.err)
	}
	subs := make([]*subscription, 0, len(t.subs))
	nums := make([]uint64, 0, len(t.subs))
	for _, sb := range t.subs {
		subs = append(subs, sb)
	}
	slices.SortFunc(subs, func(a, b *subscription) int { return int(a.num) - int(b.num) })
	for _, sb := range subs {
		nums = append(nums, sb.num)
	}
	ids := make([]string, len(msgs))
	published := make([]*message, 0, len(msgs))
	var batch *commitBatch
	for i, pm := range msgs {
		s.nextID++
		id := strconv.FormatUint(s.nextID, 10)
		// Fields may come in any order: the id goes after the rest.
		buf := protowire.AppendString(protowire.AppendTag(pm.buf, messageIDField, protowire.BytesType), id)
		m := messageIn(id, pm.size, buf)
		m.num, m.published = s.nextID, pm.at
		ids[i] = id
		if len(subs) == 0 {
			continue // delivered to nobody, as in Pub/Sub
		}
		m.refs = int32(len(subs))
		s.backlog += m.size * int64(len(subs))
		b, err := s.logged(record{typ: recMsg, a: m.num, list: nums, data: m.raw})
		if err != nil {
			// Only the first record can fail (the error is sticky).
			s.backlog -= m.size * int64(len(subs))
			return nil, nil, err
		}
		published = append(published, m)
		if b != nil {
			s.hold(m)
			batch = b
		}
	}
	if len(published) == 0 {
		return ids, nil, nil
	}
	if batch != nil {
		// Visible once durable (a publish is all in one batch: the lock
		// is held).
		batch.visible = append(batch.visible, pendingPublish{msgs: published, subs: subs})
		return ids, batch, nil
	}
	for _, sb := range subs {
		queue(sb, published)
	}
	return ids, nil, nil
}

// queue appends deliveries of msgs to sb and wakes its pullers. Called with
// s.mu held.
func queue(sb *subscription, msgs []*message) {
	ds := make([]delivery, len(msgs)) // one allocation for the lot
	for i, m := range msgs {
		ds[i].msg = m
		sb.queue.pushBack(&ds[i])
	}
	sb.signal()
}

// take leases up to max messages of sb. Called with s.mu held.
func (s *Server) take(sb *subscription, max int, deadline time.Duration, st *stream) []*pubsubpb.ReceivedMessage {
	n := min(max, sb.queue.len())
	if n <= 0 {
		return nil
	}
	now := s.cfg.now()
	// One allocation each for the leases, the received messages and the
	// ack ids of the lot, rather than three for every message.
	leases := make([]lease, n)
	rms := make([]pubsubpb.ReceivedMessage, n)
	ds := make([]*delivery, 0, n)
	var idLen int
	dl := sb.proto.GetDeadLetterPolicy()
	for len(ds) < n {
		d, ok := sb.queue.popFront()
		if !ok {
			break
		}
		d.attempts++
		if dl != nil && dl.GetMaxDeliveryAttempts() > 0 && d.attempts > dl.GetMaxDeliveryAttempts() {
			s.deadLetter(sb, d)
			continue
		}
		ds = append(ds, d)
		idLen += len(d.msg.id) + 1 + 10
	}
	ids := make([]byte, 0, idLen)
	for _, d := range ds {
		ids = strconv.AppendInt(append(append(ids, d.msg.id...), '-'), int64(d.attempts), 10)
	}
	all := string(ids)
	out := make([]*pubsubpb.ReceivedMessage, len(ds))
	until := now.Add(deadline)
	for i, d := range ds {
		idLen = len(d.msg.id) + 1 + len(strconv.Itoa(int(d.attempts)))
		ackID := all[:idLen]
		all = all[idLen:]
		leases[i] = lease{d: d, deadline: until, stream: st}
		sb.leases[ackID] = &leases[i]
		rm := &rms[i]
		rm.AckId = ackID
		rm.ProtoReflect().SetUnknown(d.msg.field) // the message, encoded at publish
		if dl != nil {
			rm.DeliveryAttempt = d.attempts
		}
		out[i] = rm
	}
	if len(ds) > 0 {
		sb.leased(until)
	}
	return out
}

// deadLetter moves a delivery to the dead-letter topic: the dead-letter
// publish and the removal are logged in that order, so a crash between them
// can deliver the message twice but never lose it.
func (s *Server) deadLetter(sb *subscription, d *delivery) {
	if t, ok := s.topics[sb.proto.GetDeadLetterPolicy().GetDeadLetterTopic()]; ok {
		var pm pubsubpb.PubsubMessage
		if proto.Unmarshal(d.msg.raw, &pm) == nil {
			pm.MessageId, pm.PublishTime = "", nil
			_, _, _ = s.publish(t, prepare([]*pubsubpb.PubsubMessage{&pm}, s.cfg.now()))
		}
	}
	_, _ = s.logged(record{typ: recAck, a: sb.num, list: []uint64{d.msg.num}})
	s.release(d.msg)
}

// ack acknowledges the leases of ackIDs and returns the batch that makes the
// acks durable (nil when none was logged).
func (s *Server) ack(sb *subscription, ackIDs []string) (*commitBatch, error) {
	var nums []uint64
	for _, id := range ackIDs {
		if l, ok := sb.leases[id]; ok {
			delete(sb.leases, id)
			if l.stream != nil {
				l.stream.outstanding--
			}
			nums = append(nums, l.d.msg.num)
			s.release(l.d.msg)
		}
	}
	if len(nums) == 0 {
		return nil, nil
	}
	return s.logged(record{typ: recAck, a: sb.num, list: nums})
}

func (s *Server) modifyDeadline(sb *subscription, ackIDs []string, seconds int32) {
	now := s.cfg.now()
	var nacked bool
	for _, id := range ackIDs {
		l, ok := sb.leases[id]
		if !ok {
			continue
		}
		if seconds <= 0 {
			delete(sb.leases, id)
			if l.stream != nil {
				l.stream.outstanding--
			}
			sb.queue.pushFront(l.d)
			nacked = true
			continue
		}
		l.deadline = now.Add(time.Duration(seconds) * time.Second)
		sb.leased(l.deadline)
	}
	if nacked {
		sb.signal()
	}
}

// releaseStream returns the leases of a finished stream to the queue at once.
func (s *Server) releaseStream(sb *subscription, st *stream) {
	var released bool
	for id, l := range sb.leases {
		if l.stream == st {
			delete(sb.leases, id)
			sb.queue.pushFront(l.d)
			released = true
		}
	}
	if released {
		sb.signal()
	}
}

// The state file of earlier versions, read once by WithImportStateFile, is a
// gob stream: a stateHeader, then for each subscription in header order, its
// messages as one msgRecord each.
type stateHeader struct {
	NextID uint64
	Topics [][]byte // serialized pubsubpb.Topic
	Subs   []subHeader
}

type subHeader struct {
	Sub      []byte // serialized pubsubpb.Subscription
	Messages int
}

type msgRecord struct {
	Raw      []byte // serialized pubsubpb.PubsubMessage
	Attempts int32
}

// load imports a state file. Messages queued on several subscriptions come
// back as one message per subscription. Called during New.
func (s *Server) load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devpubsub: import: %w", err)
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReader(f))
	var h stateHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("devpubsub: import %s: %w", path, err)
	}
	s.nextID = max(s.nextID, h.NextID)
	for _, b := range h.Topics {
		t := &pubsubpb.Topic{}
		if err := proto.Unmarshal(b, t); err != nil {
			return fmt.Errorf("devpubsub: import topic: %w", err)
		}
		if _, ok := s.topics[t.Name]; !ok {
			s.addTopic(t)
		}
	}
	for _, sh := range h.Subs {
		p := &pubsubpb.Subscription{}
		if err := proto.Unmarshal(sh.Sub, p); err != nil {
			return fmt.Errorf("devpubsub: import subscription: %w", err)
		}
		sb, ok := s.subs[p.Name]
		if !ok {
			sb = s.newSub(p, s.nextSub)
		}
		for range sh.Messages {
			var rec msgRecord
			if err := dec.Decode(&rec); err != nil {
				return fmt.Errorf("devpubsub: import message: %w", err)
			}
			id, ok := validMessage(rec.Raw)
			num, err := strconv.ParseUint(id, 10, 64)
			if !ok || err != nil {
				return fmt.Errorf("devpubsub: import message: bad message id %q", id)
			}
			m := newMessage(id, int64(len(rec.Raw)), rec.Raw)
			m.num, m.refs = num, 1
			sb.queue.pushBack(&delivery{msg: m, attempts: rec.Attempts})
			s.backlog += m.size
			s.nextID = max(s.nextID, num)
		}
	}
	return nil
}

// newSub registers a subscription under number num. Called with s.mu held
// (or during New).
func (s *Server) newSub(p *pubsubpb.Subscription, num uint64) *subscription {
	deadline := time.Duration(p.GetAckDeadlineSeconds()) * time.Second
	if deadline <= 0 {
		deadline = 10 * time.Second
		p.AckDeadlineSeconds = 10
	}
	sb := &subscription{num: num, proto: p, ackDeadline: deadline, leases: map[string]*lease{}}
	if t, ok := s.topics[p.GetTopic()]; ok {
		sb.topic = t
		t.subs[p.Name] = sb
	}
	s.subs[p.Name] = sb
	s.subsByNum[num] = sb
	s.nextSub = max(s.nextSub, num+1)
	return sb
}

// removeSub drops a subscription and its backlog. Called with s.mu held (or
// during New).
func (s *Server) removeSub(sb *subscription) {
	for _, l := range sb.leases {
		s.release(l.d.msg)
	}
	sb.queue.each(func(d *delivery) { s.release(d.msg) })
	sb.leases = map[string]*lease{}
	sb.queue = deque{}
	if sb.topic != nil {
		delete(sb.topic.subs, sb.proto.Name)
	}
	delete(s.subs, sb.proto.Name)
	delete(s.subsByNum, sb.num)
	sb.signal()
}

// addTopic registers a topic and attaches the subscriptions that name it
// (those of a re-created topic). Called with s.mu held (or during New).
func (s *Server) addTopic(t *pubsubpb.Topic) *topic {
	tp := &topic{proto: t, subs: map[string]*subscription{}}
	s.topics[t.Name] = tp
	for _, sb := range s.subs {
		if sb.proto.GetTopic() == t.Name && sb.topic == nil {
			sb.topic = tp
			tp.subs[sb.proto.Name] = sb
		}
	}
	return tp
}

// deleteTopic drops a topic; its subscriptions stay, detached. Called with
// s.mu held (or during New).
func (s *Server) deleteTopic(name string) {
	t, ok := s.topics[name]
	if !ok {
		return
	}
	for _, sb := range t.subs {
		sb.topic = nil
	}
	delete(s.topics, name)
}

// deque is a FIFO of deliveries that also takes redeliveries at the front.
type deque struct {
	items []*delivery
	head  int
}

func (q *deque) len() int { return len(q.items) - q.head }

func (q *deque) pushBack(d *delivery) { q.items = append(q.items, d) }

func (q *deque) pushFront(d *delivery) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = d
		return
	}
	q.items = append([]*delivery{d}, q.items...)
}

func (q *deque) popFront() (*delivery, bool) {
	if q.head >= len(q.items) {
		return nil, false
	}
	d := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 >= len(q.items) {
		q.items = append([]*delivery(nil), q.items[q.head:]...)
		q.head = 0
	}
	return d, true
}

func (q *deque) front() (*delivery, bool) {
	if q.head >= len(q.items) {
		return nil, false
	}
	return q.items[q.head], true
}

func (q *deque) each(fn func(*delivery)) {
	for _, d := range q.items[q.head:] {
		fn(d)
	}
}
