package rollup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// RunAll runs the named rollups (every registered one when names is
// empty) once each, in name order. A rollup that fails does not stop the
// others: the reports hold every rollup that ran, and the error joins the
// failures.
func RunAll(ctx context.Context, r *Runner, schemas Schemas, names []string, opts Options) ([]*Report, error) {
	jobs, err := Jobs(ctx, schemas, names...)
	if err != nil {
		return nil, err
	}
	var reports []*Report
	var errs []error
	for _, j := range jobs {
		rep, err := r.Run(ctx, j, opts)
		if rep != nil {
			reports = append(reports, rep)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return reports, errors.Join(errs...)
}

// Loop runs every registered rollup every interval until ctx ends, and
// returns nil then. Failures are logged (log may be nil) and retried at
// the next tick: a rollup's state moves only when a run succeeds.
func Loop(ctx context.Context, r *Runner, schemas Schemas, every time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		reports, err := RunAll(ctx, r, schemas, nil, Options{})
		for _, rep := range reports {
			if len(rep.Days) > 0 {
				log.Debug("rollup run", "rollup", rep.Rollup, "partitions", len(rep.Days), "rows", rep.Rows, "backfill", rep.Backfill)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("rollup run failed; retried at the next tick", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunRequest is the body of a request to Handler.
type RunRequest struct {
	// Names are the rollups to run; empty runs every one.
	Names  []string `json:"names,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
}

// RunResponse is Handler's answer.
type RunResponse struct {
	Reports []*Report `json:"reports"`
	Error   string    `json:"error,omitempty"`
}

// Handler serves POST with a JSON RunRequest: it runs the rollups through
// r and answers a RunResponse (hem dev serves it for hem rollup run). The
// caller authenticates the request.
func Handler(r *Runner, schemas Schemas) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var in RunRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20)).Decode(&in); err != nil {
			http.Error(w, fmt.Sprintf("bad request: %v", err), http.StatusBadRequest)
			return
		}
		reports, err := RunAll(req.Context(), r, schemas, in.Names, Options{DryRun: in.DryRun})
		out := RunResponse{Reports: reports}
		status := http.StatusOK
		if err != nil {
			out.Error = err.Error()
			if errors.Is(err, ErrNoRollup) {
				status = http.StatusNotFound
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	})
}
