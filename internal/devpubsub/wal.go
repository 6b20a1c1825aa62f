package devpubsub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// wal is the server's write-ahead log (see record.go for its format). Every
// change of the durable state (topics, subscriptions, messages, acks) is
// appended as a record under the server mutex, so the log's order is the
// order of the changes. One committer goroutine writes what was appended,
// fsyncs it, and only then answers the calls waiting on it and makes the
// published messages visible to subscribers (group commit: one write and
// one fsync for all the calls that came in during the previous one).
//
// A segment is deleted once every message it holds is acknowledged on every
// subscription, and all older segments are gone (an ack in a segment may be
// for a message of an older one). A message that stays unacknowledged for
// long would keep every later segment alive, so when the log grows well
// past the live messages, the oldest segment's live messages are copied
// forward and the segment goes. Each segment starts with the topics and
// subscriptions, so any suffix of the log is complete.
//
// All fields but the committer's are guarded by the server mutex.
type wal struct {
	dir      string
	segBytes int64

	segs    []*segment // oldest first; the last is the one appended to
	chunks  []chunk    // appended, not yet taken by the committer
	cur     *commitBatch
	durable uint64 // the last batch written and synced
	err     error  // sticky: after a failed write nothing is acknowledged
	wake    *sync.Cond
	stop    bool     // finish what is appended, then exit
	crash   bool     // exit without writing (tests)
	free    [][]byte // written blocks, for reuse
	running bool     // the committer was started

	logBytes  int64 // bytes of all segments
	liveBytes int64 // bytes of messages still to be acknowledged

	// Owned by the committer.
	f      *os.File
	fseq   uint64
	exited chan struct{}
}

type segment struct {
	seq   uint64
	bytes int64
	live  int // messages whose latest record is here, not yet fully acked
	// lastGen is the batch of the segment's last record and zeroGen the
	// batch that released its last live message: the segment may go once
	// both are durable.
	lastGen, zeroGen uint64
}

// chunk is what is appended to one segment in one batch, encoded into
// blocks written in order. Appending fills the last block and then starts a
// new one, so encoded records are never copied to grow a buffer.
type chunk struct {
	seg    *segment
	blocks [][]byte
}

// logBlock is the capacity of a block; a record larger than that gets a
// block of its own. maxFreeBlocks bounds the blocks kept for reuse.
const (
	logBlock      = 256 << 10
	maxFreeBlocks = 16
)

// buffer returns the block of c that n more bytes go to. Called with s.mu
// held.
func (w *wal) buffer(c *chunk, n int) *[]byte {
	if k := len(c.blocks); k > 0 && cap(c.blocks[k-1])-len(c.blocks[k-1]) >= n {
		return &c.blocks[k-1]
	}
	var b []byte
	switch k := len(w.free); {
	case n > logBlock:
		b = make([]byte, 0, n)
	case k > 0:
		b, w.free = w.free[k-1], w.free[:k-1]
	default:
		b = make([]byte, 0, logBlock)
	}
	c.blocks = append(c.blocks, b)
	return &c.blocks[len(c.blocks)-1]
}

// reuse keeps the standard-size blocks of written chunks for later
// batches. Called with s.mu held.
func (w *wal) reuse(chunks []chunk) {
	for _, c := range chunks {
		for _, b := range c.blocks {
			if cap(b) == logBlock && len(w.free) < maxFreeBlocks {
				w.free = append(w.free, b[:0])
			}
		}
	}
}

// chunkFor returns the chunk that appends to seg. Called with s.mu held.
func (w *wal) chunkFor(seg *segment) *chunk {
	if len(w.chunks) == 0 || w.chunks[len(w.chunks)-1].seg != seg {
		w.chunks = append(w.chunks, chunk{seg: seg})
	}
	return &w.chunks[len(w.chunks)-1]
}

// append encodes r at the end of seg. Called with s.mu held.
func (w *wal) append(seg *segment, r record) {
	b := w.buffer(w.chunkFor(seg), maxRecordLen(r))
	n := len(*b)
	*b = appendRecord(*b, r)
	seg.bytes += int64(len(*b) - n)
	w.logBytes += int64(len(*b) - n)
}

// commitBatch is what one write and fsync make durable: the calls waiting
// on it, and the messages that become visible once it is.
type commitBatch struct {
	gen     uint64
	done    chan struct{}
	err     error
	visible []pendingPublish
}

// pendingPublish is the messages of one publish, and the subscriptions
// they go to.
type pendingPublish struct {
	msgs []*message
	subs []*subscription
}

func newBatch(gen uint64) *commitBatch {
	return &commitBatch{gen: gen, done: make(chan struct{})}
}

// wait returns when b is durable (nil) or failed, or when ctx ends.
func (b *commitBatch) wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		if b.err != nil {
			return status.Errorf(codes.Unavailable, "write-ahead log: %v", b.err)
		}
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func segmentPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.wal", seq))
}

func (w *wal) active() *segment { return w.segs[len(w.segs)-1] }

// ErrLogFailed is the cause of UNAVAILABLE answers after the write-ahead
// log could not be written: the server then accepts nothing until it is
// restarted (recovery keeps everything that was answered).
var ErrLogFailed = errors.New("devpubsub: write-ahead log failed")

// logged appends r to the log and returns the batch that will make it
// durable; nil without a log. Called with s.mu held.
func (s *Server) logged(r record) (*commitBatch, error) {
	w := s.log
	if w == nil {
		return nil, nil
	}
	if w.err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v: %v", ErrLogFailed, w.err)
	}
	if w.active().bytes >= w.segBytes {
		s.rotate()
	}
	seg := w.active()
	w.append(seg, r)
	seg.lastGen = w.cur.gen
	w.wake.Signal()
	return w.cur, nil
}

// rotate starts a new segment, headed by the topics and subscriptions.
// Called with s.mu held.
func (s *Server) rotate() {
	w := s.log
	seq := uint64(1)
	if len(w.segs) > 0 {
		seq = w.active().seq + 1
	}
	seg := &segment{seq: seq, lastGen: w.cur.gen}
	w.segs = append(w.segs, seg)
	b := w.buffer(w.chunkFor(seg), len(segmentMagic))
	*b = append(*b, segmentMagic...)
	seg.bytes = int64(len(segmentMagic))
	w.logBytes += seg.bytes
	w.append(seg, record{typ: recMeta, a: s.nextID, b: s.nextSub})
	for _, name := range sortedKeys(s.topics) {
		b, _ := proto.Marshal(s.topics[name].proto)
		w.append(seg, record{typ: recTopicPut, data: b})
	}
	for _, sb := range s.subsInOrder() {
		b, _ := proto.Marshal(sb.proto)
		w.append(seg, record{typ: recSubPut, a: sb.num, data: b})
	}
	w.wake.Signal()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (s *Server) subsInOrder() []*subscription {
	out := make([]*subscription, 0, len(s.subsByNum))
	for _, sb := range s.subsByNum {
		out = append(out, sb)
	}
	slices.SortFunc(out, func(a, b *subscription) int { return int(a.num) - int(b.num) })
	return out
}

// hold notes a message whose latest record went to the active segment.
// Called with s.mu held.
func (s *Server) hold(m *message) {
	if s.log == nil {
		return
	}
	m.seg = s.log.active()
	m.seg.live++
	s.log.liveBytes += int64(len(m.raw))
}

// release drops one delivery of m. Called with s.mu held.
func (s *Server) release(m *message) {
	s.backlog -= m.size
	m.refs--
	if m.refs > 0 || m.seg == nil {
		return
	}
	w := s.log
	m.seg.live--
	if m.seg.live == 0 {
		m.seg.zeroGen = w.cur.gen
	}
	w.liveBytes -= int64(len(m.raw))
	m.seg = nil
}

// commit runs the committer until the log stops.
func (s *Server) commit() {
	w := s.log
	defer close(w.exited)
	for {
		s.mu.Lock()
		for len(w.chunks) == 0 && !w.stop && !w.crash {
			w.wake.Wait()
		}
		if w.crash || (len(w.chunks) == 0 && w.stop) {
			s.mu.Unlock()
			return
		}
		chunks, b := w.chunks, w.cur
		w.chunks = nil
		w.cur = newBatch(b.gen + 1)
		s.mu.Unlock()

		err := w.write(chunks)

		s.mu.Lock()
		var remove []uint64
		if err != nil {
			w.err = err
			for _, pp := range b.visible {
				for _, m := range pp.msgs {
					for range pp.subs {
						s.release(m)
					}
				}
			}
		} else {
			w.durable = b.gen
			for _, pp := range b.visible {
				s.deliver(pp)
			}
			remove = s.trim()
			s.compact()
		}
		w.reuse(chunks)
		s.mu.Unlock()
		b.err = err
		close(b.done)
		for _, seq := range remove {
			// A segment that outlives a crash is harmless: its messages
			// were acknowledged by records that come later.
			_ = os.Remove(segmentPath(w.dir, seq))
		}
	}
}

// write appends chunks to their segment files and syncs them.
func (w *wal) write(chunks []chunk) error {
	created := false
	for _, c := range chunks {
		if w.f == nil || c.seg.seq != w.fseq {
			if w.f != nil {
				// A segment is complete on disk before the next begins, so
				// only the last segment can end in a torn record.
				if err := w.f.Sync(); err != nil {
					return fmt.Errorf("sync segment: %w", err)
				}
				_ = w.f.Close()
			}
			f, err := os.OpenFile(segmentPath(w.dir, c.seg.seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				w.f = nil
				return fmt.Errorf("create segment: %w", err)
			}
			w.f, w.fseq, created = f, c.seg.seq, true
		}
		for _, b := range c.blocks {
			if _, err := w.f.Write(b); err != nil {
				return fmt.Errorf("write segment: %w", err)
			}
		}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync segment: %w", err)
	}
	if created {
		return syncDir(w.dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	return nil
}

// deliver queues the messages of a publish that just became durable on
// the subscriptions they were published to that still exist. Called with
// s.mu held.
func (s *Server) deliver(pp pendingPublish) {
	for _, sb := range pp.subs {
		if s.subsByNum[sb.num] != sb {
			for _, m := range pp.msgs {
				s.release(m)
			}
			continue
		}
		queue(sb, pp.msgs)
	}
}

// trim drops the oldest segments that hold nothing live any more and
// returns their numbers. Called with s.mu held.
func (s *Server) trim() []uint64 {
	w := s.log
	var remove []uint64
	for len(w.segs) > 1 {
		sg := w.segs[0]
		if sg.live > 0 || max(sg.lastGen, sg.zeroGen) > w.durable {
			break
		}
		w.segs = w.segs[1:]
		w.logBytes -= sg.bytes
		remove = append(remove, sg.seq)
	}
	return remove
}

// compactSegments is how many segments' worth of log, beyond twice the
// live messages, the log may hold before its oldest live messages are
// copied forward.
const compactSegments = 8

// compact copies the live messages of the oldest segment forward when the
// log has grown well past what is live (a few messages nobody acks keep
// every later segment). Called with s.mu held, after a commit.
func (s *Server) compact() {
	w := s.log
	if len(w.segs) < 3 || w.logBytes <= 2*w.liveBytes+compactSegments*w.segBytes {
		return
	}
	oldest := w.segs[0]
	if oldest.lastGen > w.durable {
		return
	}
	_ = s.relog(func(m *message) bool { return m.seg == oldest })
}

// relog appends a recMsg for every live message that keep selects, stating
// the subscriptions it is still to be delivered to, and moves the messages
// to the active segment. Called with s.mu held.
func (s *Server) relog(keep func(*message) bool) *commitBatch {
	subsOf := map[*message][]uint64{}
	var order []*message
	for _, sb := range s.subsInOrder() {
		add := func(d *delivery) {
			if !keep(d.msg) {
				return
			}
			if _, ok := subsOf[d.msg]; !ok {
				order = append(order, d.msg)
			}
			subsOf[d.msg] = append(subsOf[d.msg], sb.num)
		}
		for _, l := range sb.leases {
			add(l.d)
		}
		sb.queue.each(add)
	}
	slices.SortFunc(order, func(a, b *message) int { return int(a.num) - int(b.num) })
	var b *commitBatch
	for _, m := range order {
		var err error
		if b, err = s.logged(record{typ: recMsg, a: m.num, list: subsOf[m], data: m.raw}); err != nil {
			return nil
		}
		if old := m.seg; old != nil {
			old.live--
			if old.live == 0 {
				old.zeroGen = s.log.cur.gen
			}
			s.log.liveBytes -= int64(len(m.raw))
		}
		s.hold(m)
	}
	return b
}

// openLog recovers the server's state from the log in dir and starts a new
// segment. Called from New, before the server is shared.
func (s *Server) openLog(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devpubsub: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("devpubsub: %w", err)
	}
	w := &wal{dir: dir, segBytes: s.cfg.segmentBytes, cur: newBatch(1), wake: sync.NewCond(&s.mu), exited: make(chan struct{})}
	s.log = w
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64); err == nil && strings.HasSuffix(name, ".wal") {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	msgs := map[uint64]*replayed{}
	for i, seq := range seqs {
		seg, err := s.replaySegment(segmentPath(dir, seq), seq, i == len(seqs)-1, msgs)
		if err != nil {
			return err
		}
		if seg != nil {
			w.segs = append(w.segs, seg)
		}
	}
	s.restore(msgs)
	imported := false
	if len(seqs) == 0 && s.cfg.importFile != "" {
		if _, err := os.Stat(s.cfg.importFile); err == nil {
			if err := s.load(s.cfg.importFile); err != nil {
				return err
			}
			imported = true
		}
	}
	s.rotate()
	b := w.cur
	if imported {
		s.relog(func(*message) bool { return true })
	}
	w.running = true
	go s.commit()
	if err := b.wait(context.Background()); err != nil {
		return fmt.Errorf("devpubsub: start the write-ahead log: %w", err)
	}
	if imported {
		// The backlog is in the log now.
		if err := os.Remove(s.cfg.importFile); err != nil {
			return fmt.Errorf("devpubsub: %w", err)
		}
	}
	return nil
}

// replayed is a message met while replaying the log: its latest record and
// the subscriptions it is still to be delivered to.
type replayed struct {
	raw  []byte
	subs []uint64
	seg  *segment
}

// replaySegment applies a segment's records. The last segment may end in a
// torn record (a crash during a write): it is cut off there. Anywhere else,
// a bad record is damage recovery cannot repair without losing what later
// segments hold, so it stops with an error.
func (s *Server) replaySegment(path string, seq uint64, last bool, msgs map[uint64]*replayed) (*segment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devpubsub: %w", err)
	}
	if len(data) < len(segmentMagic) || string(data[:len(segmentMagic)]) != segmentMagic {
		if last && strings.HasPrefix(segmentMagic, string(data)) {
			// Created, never completed: holds nothing.
			return nil, os.Remove(path)
		}
		return nil, fmt.Errorf("devpubsub: %s is not a log segment", path)
	}
	seg := &segment{seq: seq, bytes: int64(len(data))}
	for off := len(segmentMagic); off < len(data); {
		r, n, err := decodeRecord(data[off:])
		if err == nil {
			err = s.replay(r, seg, msgs)
		}
		if err != nil {
			if !last || (!errors.Is(err, errTruncated) && !errors.Is(err, errCorrupt)) {
				return nil, fmt.Errorf("devpubsub: %s at offset %d: %w", path, off, err)
			}
			if err := truncate(path, int64(off)); err != nil {
				return nil, err
			}
			seg.bytes = int64(off)
			break
		}
		off += n
	}
	s.log.logBytes += seg.bytes
	return seg, nil
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("devpubsub: cut the torn tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("devpubsub: cut the torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("devpubsub: cut the torn tail: %w", err)
	}
	return nil
}

// replay applies one record. Called during New.
func (s *Server) replay(r record, seg *segment, msgs map[uint64]*replayed) error {
	switch r.typ {
	case recMeta:
		s.nextID, s.nextSub = max(s.nextID, r.a), max(s.nextSub, r.b)
	case recTopicPut:
		t := &pubsubpb.Topic{}
		if err := proto.Unmarshal(r.data, t); err != nil || t.GetName() == "" {
			return fmt.Errorf("%w: topic", errCorrupt)
		}
		if old, ok := s.topics[t.Name]; ok {
			old.proto = t
			return nil
		}
		s.addTopic(t)
	case recTopicDel:
		s.deleteTopic(string(r.data))
	case recSubPut:
		p := &pubsubpb.Subscription{}
		if err := proto.Unmarshal(r.data, p); err != nil || p.GetName() == "" {
			return fmt.Errorf("%w: subscription", errCorrupt)
		}
		if old, ok := s.subsByNum[r.a]; ok {
			old.proto = p
			return nil
		}
		if _, ok := s.subs[p.Name]; ok {
			return fmt.Errorf("%w: subscription %s twice", errCorrupt, p.Name)
		}
		s.newSub(p, r.a)
	case recSubDel:
		if sb, ok := s.subsByNum[r.a]; ok {
			s.removeSub(sb)
		}
	case recMsg:
		id, ok := validMessage(r.data)
		if !ok || id != strconv.FormatUint(r.a, 10) {
			return fmt.Errorf("%w: message %d", errCorrupt, r.a)
		}
		msgs[r.a] = &replayed{raw: r.data, subs: r.list, seg: seg}
		s.nextID = max(s.nextID, r.a)
	case recAck:
		for _, id := range r.list {
			if m, ok := msgs[id]; ok {
				m.subs = slices.DeleteFunc(m.subs, func(n uint64) bool { return n == r.a })
			}
		}
	default:
		return fmt.Errorf("%w: type %d", errCorrupt, r.typ)
	}
	return nil
}

// restore queues the replayed messages in the order they were published.
// Called during New.
func (s *Server) restore(msgs map[uint64]*replayed) {
	ids := make([]uint64, 0, len(msgs))
	for id := range msgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rm := msgs[id]
		var subs []*subscription
		for _, n := range rm.subs {
			if sb, ok := s.subsByNum[n]; ok && !slices.Contains(subs, sb) {
				subs = append(subs, sb)
			}
		}
		if len(subs) == 0 {
			continue
		}
		m := newMessage(strconv.FormatUint(id, 10), int64(len(rm.raw)), rm.raw)
		m.num = id
		m.refs = int32(len(subs))
		m.seg = rm.seg
		rm.seg.live++
		s.log.liveBytes += int64(len(m.raw))
		for _, sb := range subs {
			sb.queue.pushBack(&delivery{msg: m})
			s.backlog += m.size
		}
	}
}

// crash stops the log as a kill would: what is not yet written is lost,
// and nothing is answered (tests).
func (s *Server) crash() {
	w := s.log
	s.mu.Lock()
	w.crash = true
	w.wake.Broadcast()
	s.mu.Unlock()
	<-w.exited
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	s.mu.Lock()
	w.err = errCrashed
	b := w.cur
	s.mu.Unlock()
	b.err = errCrashed
	close(b.done)
}

var errCrashed = errors.New("crashed")
