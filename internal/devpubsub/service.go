package devpubsub

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

type publisher struct {
	s *Server
}

var _ pubsubpb.PublisherServer = publisher{}

func (p publisher) CreateTopic(ctx context.Context, t *pubsubpb.Topic) (*pubsubpb.Topic, error) {
	if t.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "topic name is required")
	}
	s := p.s
	s.mu.Lock()
	if _, ok := s.topics[t.Name]; ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "topic %q already exists", t.Name)
	}
	t = proto.Clone(t).(*pubsubpb.Topic)
	b, err := s.logged(record{typ: recTopicPut, data: mustMarshal(t)})
	if err == nil {
		s.addTopic(t)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return t, b.wait(ctx)
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err) // a message the server built or decoded
	}
	return b
}

func (p publisher) GetTopic(_ context.Context, req *pubsubpb.GetTopicRequest) (*pubsubpb.Topic, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	t, ok := p.s.topics[req.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "topic %q not found", req.GetTopic())
	}
	return t.proto, nil
}

func (p publisher) UpdateTopic(context.Context, *pubsubpb.UpdateTopicRequest) (*pubsubpb.Topic, error) {
	return nil, status.Error(codes.Unimplemented, "UpdateTopic is not supported by the local Pub/Sub server")
}

func (p publisher) Publish(ctx context.Context, req *pubsubpb.PublishRequest) (*pubsubpb.PublishResponse, error) {
	if len(req.GetMessages()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no messages")
	}
	return p.publish(ctx, req.GetTopic(), prepare(req.GetMessages(), p.s.cfg.now()))
}

// publishRaw is Publish for a request still encoded (see publisherDesc).
func (p publisher) publishRaw(ctx context.Context, req []byte) (*pubsubpb.PublishResponse, error) {
	topicName, msgs, err := readPublish(req)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no messages")
	}
	prepared, err := prepareRaw(msgs, p.s.cfg.now())
	if err != nil {
		return nil, err
	}
	return p.publish(ctx, topicName, prepared)
}

// readPublish reads an encoded PublishRequest's topic and its messages,
// still encoded, as proto.Unmarshal would (FuzzReadPublish holds it to
// that): the last topic, every message, other fields skipped.
func readPublish(req []byte) (topicName string, msgs [][]byte, err error) {
	for len(req) > 0 {
		num, typ, n := protowire.ConsumeTag(req)
		if n < 0 {
			return "", nil, status.Error(codes.InvalidArgument, "malformed publish request")
		}
		req = req[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, m := protowire.ConsumeBytes(req)
			if m < 0 {
				return "", nil, status.Error(codes.InvalidArgument, "malformed publish request")
			}
			if num == 1 {
				topicName = string(v)
			} else {
				msgs = append(msgs, v)
			}
			req = req[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, req)
		if m < 0 {
			return "", nil, status.Error(codes.InvalidArgument, "malformed publish request")
		}
		req = req[m:]
	}
	return topicName, msgs, nil
}

// publish stores msgs, prepared outside the lock, on a topic, and answers
// once they are durable.
func (p publisher) publish(ctx context.Context, topicName string, msgs []prepared) (*pubsubpb.PublishResponse, error) {
	s := p.s
	s.mu.Lock()
	t, ok := s.topics[topicName]
	if !ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "topic %q not found", topicName)
	}
	ids, b, err := s.publish(t, msgs)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	return &pubsubpb.PublishResponse{MessageIds: ids}, nil
}

// publisherDesc is the Publisher service with a Publish that takes the
// request still encoded: it reads the request as the unknown fields of an
// empty message, so the attribute maps of its messages are neither decoded
// nor encoded again; each message's bytes are stored as they came, with the
// publish time and id appended.
func publisherDesc() *grpc.ServiceDesc {
	desc := pubsubpb.Publisher_ServiceDesc
	desc.HandlerType = (*pubsubpb.PublisherServer)(nil)
	desc.Methods = slices.Clone(desc.Methods)
	for i, m := range desc.Methods {
		if m.MethodName != "Publish" {
			continue
		}
		desc.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			p := srv.(publisher)
			if interceptor == nil {
				return p.publishRaw(ctx, in.ProtoReflect().GetUnknown())
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: pubsubpb.Publisher_Publish_FullMethodName}
			return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return p.publishRaw(ctx, req.(*emptypb.Empty).ProtoReflect().GetUnknown())
			})
		}
	}
	return &desc
}

func (p publisher) ListTopics(_ context.Context, req *pubsubpb.ListTopicsRequest) (*pubsubpb.ListTopicsResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return &pubsubpb.ListTopicsResponse{Topics: inProject(p.s.topics, req.GetProject(), func(t *topic) *pubsubpb.Topic { return t.proto })}, nil
}

func (p publisher) ListTopicSubscriptions(_ context.Context, req *pubsubpb.ListTopicSubscriptionsRequest) (*pubsubpb.ListTopicSubscriptionsResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	t, ok := p.s.topics[req.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "topic %q not found", req.GetTopic())
	}
	resp := &pubsubpb.ListTopicSubscriptionsResponse{}
	for name := range t.subs {
		resp.Subscriptions = append(resp.Subscriptions, name)
	}
	slices.Sort(resp.Subscriptions)
	return resp, nil
}

func (p publisher) ListTopicSnapshots(context.Context, *pubsubpb.ListTopicSnapshotsRequest) (*pubsubpb.ListTopicSnapshotsResponse, error) {
	return &pubsubpb.ListTopicSnapshotsResponse{}, nil
}

func (p publisher) DeleteTopic(ctx context.Context, req *pubsubpb.DeleteTopicRequest) (*emptypb.Empty, error) {
	s := p.s
	s.mu.Lock()
	if _, ok := s.topics[req.GetTopic()]; !ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "topic %q not found", req.GetTopic())
	}
	b, err := s.logged(record{typ: recTopicDel, data: []byte(req.GetTopic())})
	if err == nil {
		s.deleteTopic(req.GetTopic())
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, b.wait(ctx)
}

func (p publisher) DetachSubscription(context.Context, *pubsubpb.DetachSubscriptionRequest) (*pubsubpb.DetachSubscriptionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "DetachSubscription is not supported by the local Pub/Sub server")
}

type subscriber struct {
	pubsubpb.UnimplementedSubscriberServer
	s *Server
}

func (r subscriber) CreateSubscription(ctx context.Context, p *pubsubpb.Subscription) (*pubsubpb.Subscription, error) {
	if p.GetName() == "" || p.GetTopic() == "" {
		return nil, status.Error(codes.InvalidArgument, "subscription name and topic are required")
	}
	if p.GetFilter() != "" {
		return nil, status.Error(codes.InvalidArgument, "filters are not supported by the local Pub/Sub server")
	}
	s := r.s
	s.mu.Lock()
	p, b, err := r.createSubscription(p)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return p, b.wait(ctx)
}

// createSubscription is CreateSubscription up to the log, called with s.mu
// held; the caller waits for the batch.
func (r subscriber) createSubscription(p *pubsubpb.Subscription) (*pubsubpb.Subscription, *commitBatch, error) {
	s := r.s
	if _, ok := s.subs[p.Name]; ok {
		return nil, nil, status.Errorf(codes.AlreadyExists, "subscription %q already exists", p.Name)
	}
	if _, ok := s.topics[p.Topic]; !ok {
		return nil, nil, status.Errorf(codes.NotFound, "topic %q not found", p.Topic)
	}
	if dl := p.GetDeadLetterPolicy(); dl != nil {
		if _, ok := s.topics[dl.GetDeadLetterTopic()]; !ok {
			return nil, nil, status.Errorf(codes.NotFound, "dead-letter topic %q not found", dl.GetDeadLetterTopic())
		}
	}
	p = proto.Clone(p).(*pubsubpb.Subscription)
	p.State = pubsubpb.Subscription_ACTIVE
	if p.GetAckDeadlineSeconds() <= 0 {
		p.AckDeadlineSeconds = 10
	}
	num := s.nextSub
	b, err := s.logged(record{typ: recSubPut, a: num, data: mustMarshal(p)})
	if err != nil {
		return nil, nil, err
	}
	s.newSub(p, num)
	return p, b, nil
}

func (r subscriber) GetSubscription(_ context.Context, req *pubsubpb.GetSubscriptionRequest) (*pubsubpb.Subscription, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	sb, ok := r.s.subs[req.GetSubscription()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "subscription %q not found", req.GetSubscription())
	}
	return sb.proto, nil
}

func (r subscriber) ListSubscriptions(_ context.Context, req *pubsubpb.ListSubscriptionsRequest) (*pubsubpb.ListSubscriptionsResponse, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return &pubsubpb.ListSubscriptionsResponse{Subscriptions: inProject(r.s.subs, req.GetProject(), func(sb *subscription) *pubsubpb.Subscription { return sb.proto })}, nil
}

func (r subscriber) DeleteSubscription(ctx context.Context, req *pubsubpb.DeleteSubscriptionRequest) (*emptypb.Empty, error) {
	s := r.s
	s.mu.Lock()
	sb, ok := s.subs[req.GetSubscription()]
	if !ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "subscription %q not found", req.GetSubscription())
	}
	b, err := s.logged(record{typ: recSubDel, a: sb.num})
	if err == nil {
		s.removeSub(sb)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, b.wait(ctx)
}

func (r subscriber) ModifyAckDeadline(_ context.Context, req *pubsubpb.ModifyAckDeadlineRequest) (*emptypb.Empty, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, err := s.findSub(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	s.modifyDeadline(sb, req.GetAckIds(), req.GetAckDeadlineSeconds())
	return &emptypb.Empty{}, nil
}

// Acknowledge answers once the acks are durable, so a subscriber that was
// answered is never sent the messages again, also after a crash.
func (r subscriber) Acknowledge(ctx context.Context, req *pubsubpb.AcknowledgeRequest) (*emptypb.Empty, error) {
	s := r.s
	s.mu.Lock()
	sb, err := s.findSub(req.GetSubscription())
	var b *commitBatch
	if err == nil {
		b, err = s.ack(sb, req.GetAckIds())
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, b.wait(ctx)
}

// pullWait is how long an empty Pull waits for a message, like the real
// service's bounded wait.
const pullWait = time.Second

func (r subscriber) Pull(ctx context.Context, req *pubsubpb.PullRequest) (*pubsubpb.PullResponse, error) {
	max := int(req.GetMaxMessages())
	if max <= 0 {
		return nil, status.Error(codes.InvalidArgument, "max_messages must be positive")
	}
	s := r.s
	timer := time.NewTimer(pullWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		sb, err := s.findSub(req.GetSubscription())
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		msgs := s.take(sb, max, sb.ackDeadline, nil)
		// Deprecated in the API, still sent by clients: the fake serves it.
		if len(msgs) > 0 || req.GetReturnImmediately() { //nolint:staticcheck // (above)
			s.mu.Unlock()
			return &pubsubpb.PullResponse{ReceivedMessages: msgs}, nil
		}
		wake := sb.waitCh()
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			return &pubsubpb.PullResponse{}, nil
		case <-timer.C:
			return &pubsubpb.PullResponse{}, nil
		case <-wake:
		}
	}
}

// stream is one StreamingPull call; outstanding counts its leases and is
// guarded by the server mutex.
type stream struct {
	outstanding int
}

func (r subscriber) StreamingPull(gs pubsubpb.Subscriber_StreamingPullServer) error {
	first, err := gs.Recv()
	if err != nil {
		return err
	}
	s := r.s
	s.mu.Lock()
	sb, err := s.findSub(first.GetSubscription())
	s.mu.Unlock()
	if err != nil {
		return err
	}
	deadline := time.Duration(first.GetStreamAckDeadlineSeconds()) * time.Second
	if deadline <= 0 {
		deadline = sb.ackDeadline
	}
	maxOutstanding := int(first.GetMaxOutstandingMessages())
	if maxOutstanding <= 0 {
		maxOutstanding = 1000
	}
	st := &stream{}
	defer func() {
		s.mu.Lock()
		s.releaseStream(sb, st)
		s.mu.Unlock()
	}()

	handle := func(req *pubsubpb.StreamingPullRequest) {
		s.mu.Lock()
		defer s.mu.Unlock()
		// Acks on the stream get no answer; they are logged all the same.
		_, _ = s.ack(sb, req.GetAckIds())
		ids, secs := req.GetModifyDeadlineAckIds(), req.GetModifyDeadlineSeconds()
		for i := range min(len(ids), len(secs)) {
			s.modifyDeadline(sb, ids[i:i+1], secs[i])
		}
		sb.signal() // room may have opened for this stream
	}
	handle(first)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := gs.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			handle(req)
		}
	}()

	ctx := gs.Context()
	for {
		s.mu.Lock()
		var msgs []*pubsubpb.ReceivedMessage
		if room := maxOutstanding - st.outstanding; room > 0 {
			msgs = s.take(sb, min(room, 1000), deadline, st)
			st.outstanding += len(msgs)
		}
		wake := sb.waitCh()
		s.mu.Unlock()
		if len(msgs) > 0 {
			if err := gs.Send(&pubsubpb.StreamingPullResponse{ReceivedMessages: msgs}); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if err == io.EOF {
				return nil
			}
			return err
		case <-s.stop:
			return status.Error(codes.Unavailable, "server stopping")
		case <-wake:
		case <-time.After(pullWait):
		}
	}
}

// inProject lists the resources of a project (all when project is empty),
// sorted by name.
func inProject[R any, P any](byName map[string]R, project string, proto func(R) P) []P {
	names := make([]string, 0, len(byName))
	for name := range byName {
		if project == "" || strings.HasPrefix(name, project+"/") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]P, len(names))
	for i, name := range names {
		out[i] = proto(byName[name])
	}
	return out
}
