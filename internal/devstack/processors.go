package devstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/processor"
)

// processorRun is one running processor of the stack.
type processorRun struct {
	sink         string
	subscription string
	p            *processor.Processor
	cancel       context.CancelFunc
	done         chan error
}

// ArchiveBatchAge is how long the local archive batches: shorter than in
// production (30 s) so that archived rows show up in hem sql while a
// developer watches; the objects are smaller, which locally costs nothing.
const ArchiveBatchAge = 10 * time.Second

// processorConfig is the production configuration of a sink's processor
// (wiring's defaults) with what hem dev changes on purpose: the archive's
// batch age, and a drain that empties the queues at Ctrl-C.
func (c *Config) processorConfig(sinkName string) wiring.ProcessorConfig {
	p := wiring.DefaultProcessorConfig(sinkName)
	if sinkName == "archive" {
		p.Batch.Age = ArchiveBatchAge
	}
	p.DrainTimeout = c.DrainTimeout
	return p
}

// startProcessors runs the processors under run, the stack's lifetime.
func (s *Stack) startProcessors(run context.Context) error {
	failed := processor.NewTopicPublisher(s.psClient, envelope.FailedTopic)
	s.failedPub = failed
	for _, name := range s.cfg.Sinks {
		sub := envelope.SubscriptionFor(name)
		// As hem processor run: named by subscription in the metrics, and
		// logging with the sink and subscription.
		log := s.log.With("service", "processor", "sink", name, "subscription", sub)
		var (
			schemas processor.Schemas         = s.regClient
			pub     processor.FailedPublisher = failed
		)
		if name == "failed" {
			schemas, pub = nil, nil
		}
		p, err := wiring.NewProcessor(s.cfg.processorConfig(name), processor.NewSubscriptionPuller(s.psClient, sub), s.sinks.byName[name],
			schemas, pub, log, s.metrics.provider)
		if err != nil {
			return fmt.Errorf("dev: processor %s: %w", name, err)
		}
		runCtx, cancel := context.WithCancel(run)
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
