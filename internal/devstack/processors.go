package devstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
)

// processorRun is one running processor of the stack.
type processorRun struct {
	sink         string
	subscription string
	p            *processor.Processor
	cancel       context.CancelFunc
	done         chan error
}

// batchOptions are each sink's batch policy: the archive writes one
// Parquet object per batch, so it batches for longer.
func batchOptions(sinkName string) []processor.Option {
	if sinkName == "archive" {
		return []processor.Option{processor.WithBatch(50_000, 64<<20, 10*time.Second)}
	}
	return []processor.Option{processor.WithBatch(20_000, 16<<20, time.Second)}
}

func (s *Stack) startProcessors(ctx context.Context) error {
	failed := processor.NewTopicPublisher(s.psClient, envelope.FailedTopic)
	s.failedPub = failed
	for _, name := range s.cfg.Sinks {
		sub := envelope.SubscriptionFor(name)
		opts := append(batchOptions(name),
			processor.WithPullers(2, 1000),
			processor.WithAckDeadline(ackDeadlineSeconds*time.Second),
			processor.WithDrainTimeout(s.cfg.DrainTimeout),
			processor.WithPermanentError(func(err error) bool { return errors.Is(err, registry.ErrNotFound) }),
			// As hem processor run: named by subscription in the metrics,
			// and logging with the sink and subscription.
			processor.WithName(sub),
			processor.WithLogger(s.log.With("service", "processor", "sink", name, "subscription", sub)),
			processor.WithMeterProvider(s.metrics.provider))
		if name == "failed" {
			opts = append(opts, processor.WithFailedMode())
		}
		p, err := processor.New(processor.NewSubscriptionPuller(s.psClient, sub), s.sinks.byName[name], s.regClient, failed, opts...)
		if err != nil {
			return fmt.Errorf("dev: processor %s: %w", name, err)
		}
		runCtx, cancel := context.WithCancel(s.runCtx)
		run := &processorRun{sink: name, subscription: sub, p: p, cancel: cancel, done: make(chan error, 1)}
		go func() { run.done <- p.Run(runCtx) }()
		s.procs = append(s.procs, run)
		s.log.Info("processor starting", "service", "processor", "sink", name, "subscription", sub)
	}
	return nil
}

func (s *Stack) stopProcessors(ctx context.Context) error {
	var errs []error
	for _, r := range s.procs {
		r.cancel()
	}
	for _, r := range s.procs {
		select {
		case err := <-r.done:
			st := r.p.Stats()
			s.log.Info("processor stopped", "service", "processor", "sink", r.sink, "subscription", r.subscription,
				"received", st.Received, "written", st.Written, "acked", st.Acked, "nacked", st.Nacked,
				"failed", st.Failed, "refused", st.Refused, "batches", st.Batches, "outstanding", st.Outstanding)
			if err != nil {
				errs = append(errs, fmt.Errorf("processor %s: %w", r.sink, err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("processor %s: did not stop: %w", r.sink, ctx.Err()))
		}
	}
	if s.failedPub != nil {
		s.failedPub.Stop()
	}
	return errors.Join(errs...)
}

// Stats reports each processor's counters, by sink.
func (s *Stack) Stats() map[string]processor.Stats {
	out := make(map[string]processor.Stats, len(s.procs))
	for _, r := range s.procs {
		out[r.sink] = r.p.Stats()
	}
	return out
}
