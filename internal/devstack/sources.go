package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"cloud.google.com/go/pubsub/v2"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/spec"
)

// sourcesRun is the file sources of the stack: the production consumer of
// object notifications (hem source run's) and the inbox that feeds it.
type sourcesRun struct {
	loader *wiring.SourceLoader
	runner *wiring.SourceRunner
	pub    *pubsub.Publisher
	cancel context.CancelFunc
	done   chan struct{}
}

// startSources reads the declarations of cfg.SourcesDir, creates their
// buckets and the ledger's in the local GCS server, and runs the consumer
// of hem-objects and the inbox under run. Declarations with problems are
// reported in SourcesErr and left out; the others run.
func (s *Stack) startSources(ctx, run context.Context) error {
	if s.cfg.SourcesDir == "" {
		return nil
	}
	srcs, err := wiring.LoadDeclarations(s.cfg.SourcesDir)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(s.cfg.SourcesDir); errors.Is(statErr, fs.ErrNotExist) {
			return nil // no sources/ folder: nothing to load
		}
	}
	s.SourcesErr = err
	s.Sources = srcs
	for _, b := range s.SourceBuckets() {
		if err := localgcs.EnsureBucket(ctx, s.gcsClient, b); err != nil {
			return err
		}
	}
	sc := wiring.DefaultSourceConfig()
	sc.Dir, sc.LedgerBucket = s.cfg.SourcesDir, wiring.DevLedgerBucket
	// One hem dev runs per folder (its lock), so its owner name is held by
	// no other process: what it holds in the ledger now, a previous run
	// left when it was killed, and it resumes that at once.
	sc.Owner = "hem-dev:" + s.cfg.Dir
	released, err := ledger.New(s.gcsClient.Bucket(sc.LedgerBucket), sc.LedgerPrefix).Release(ctx, sc.Owner)
	if err != nil {
		return fmt.Errorf("dev: file sources: %w", err)
	}
	if released > 0 {
		s.log.Info("resuming file loads a previous run left", "service", "source", "files", released)
	}
	log := s.log.With("service", "source")
	loader, err := wiring.NewSourceLoader(sc, srcs, s.coll, s.regClient, s.gcsClient, log)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	runner, err := wiring.NewSourceRunner(loader, log, s.metrics.provider)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	pub := s.psClient.Publisher(wiring.ObjectsTopic)
	in, err := newInbox(InboxDir(s.cfg.Dir), inboxTargets(srcs), s.gcsClient, pub, log, s.cfg.InboxStableFor)
	if err != nil {
		pub.Stop()
		return err
	}
	runCtx, cancel := context.WithCancel(run)
	s.srcs = &sourcesRun{loader: loader, runner: runner, pub: pub, cancel: cancel, done: make(chan struct{})}
	set := wiring.DefaultSourceRunSettings()
	// A developer's Ctrl-C should not wait long: a cut-off load resumes
	// from its checkpoint at the next start.
	set.ShutdownTimeout = 2 * s.cfg.DrainTimeout / 3
	go func() {
		defer close(s.srcs.done)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := in.run(runCtx); err != nil {
				s.log.Error("inbox stopped", "service", "inbox", "error", err)
			}
		}()
		if err := runner.Run(runCtx, s.psClient.Subscriber(wiring.ObjectsSubscription), set); err != nil {
			s.log.Error("file sources stopped; files dropped in the inbox wait for the next start", "service", "source", "error", err)
		}
		cancel()
		<-done
	}()
	return nil
}

// stopSources stops taking files and lets running loads end (up to their
// shutdown timeout) before the collector closes.
func (s *Stack) stopSources(ctx context.Context) {
	if s.srcs == nil {
		return
	}
	s.srcs.cancel()
	select {
	case <-s.srcs.done:
	case <-ctx.Done():
	}
	s.srcs.pub.Stop()
}

// inboxTargets maps each source's inbox folder to its bucket and the fixed
// prefix of its pattern.
func inboxTargets(srcs []*sourcev1.Source) []inboxTarget {
	var out []inboxTarget
	for _, src := range srcs {
		out = append(out, inboxTarget{
			source:  src.GetName(),
			bucket:  src.GetObjects().GetBucket(),
			prefix:  spec.FixedPrefix(src.GetObjects().GetPattern()),
			pattern: src.GetObjects().GetPattern(),
		})
	}
	return out
}

// SourceBuckets are the buckets the file sources use: the ledger's, then
// each landing bucket once.
func (s *Stack) SourceBuckets() []string {
	out := []string{wiring.DevLedgerBucket}
	for _, src := range s.Sources {
		if b := src.GetObjects().GetBucket(); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// SourceStats are the counters of the stack's file source consumer.
func (s *Stack) SourceStats() wiring.SourceRunStats {
	if s.srcs == nil {
		return wiring.SourceRunStats{}
	}
	return s.srcs.runner.Stats()
}
