package processor

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"

	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// FailedPublisher sends failed events to hem-failed.
type FailedPublisher interface {
	PublishFailed(ctx context.Context, fe *eventv1.FailedEvent) error
}

// FailedPublisherFunc adapts a function to FailedPublisher.
type FailedPublisherFunc func(ctx context.Context, fe *eventv1.FailedEvent) error

// PublishFailed calls f.
func (f FailedPublisherFunc) PublishFailed(ctx context.Context, fe *eventv1.FailedEvent) error {
	return f(ctx, fe)
}

var _ FailedPublisher = FailedPublisherFunc(nil)

// TopicPublisher publishes failed events to a Pub/Sub topic.
type TopicPublisher struct {
	p *pubsub.Publisher
}

// NewTopicPublisher publishes to topic (e.g. hem-failed) with c. Stop it
// when done.
func NewTopicPublisher(c *pubsub.Client, topic string) *TopicPublisher {
	return &TopicPublisher{p: c.Publisher(topic)}
}

// PublishFailed implements FailedPublisher; it returns once Pub/Sub stored
// the event.
func (t *TopicPublisher) PublishFailed(ctx context.Context, fe *eventv1.FailedEvent) error {
	data, attrs, err := envelope.EncodeFailed(fe)
	if err != nil {
		return err
	}
	if _, err := t.p.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx); err != nil {
		return fmt.Errorf("publish failed event %s: %w", fe.GetEventId(), err)
	}
	return nil
}

// Stop flushes and stops the publisher.
func (t *TopicPublisher) Stop() { t.p.Stop() }
