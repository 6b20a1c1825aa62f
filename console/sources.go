package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// sourcesLimit bounds the rows the Sources page shows (newest first).
const sourcesLimit = 500

// sourcesView is the Sources page's data.
type sourcesView struct {
	Configured bool
	Source     string // the filter, "" for every source
	Status     string // the filter: loading, loaded, quarantined, failed
	Sources    []string
	Statuses   []string
	Rows       []sourceRow
	Total      int
	Truncated  bool
	// Partial is the ledger's error when some entries could not be read.
	Partial string
}

type sourceRow struct {
	Source, URI, Status, Reason string
	Records, Accepted, Rejected int64
	Updated                     time.Time
	Attempts                    int32
}

var sourceStatuses = []string{"loading", "loaded", "quarantined", "failed"}

func statusName(s sourcev1.Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

func (s *Server) routesSources(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"sources", s.sourcesPage)
}

func (s *Server) sourcesPage(w http.ResponseWriter, r *http.Request) {
	v := sourcesView{Configured: s.deps.Ledger != nil, Statuses: sourceStatuses,
		Source: strings.TrimSpace(r.URL.Query().Get("source")), Status: r.URL.Query().Get("status")}
	if !v.Configured {
		s.page(w, r, http.StatusOK, "sources", v)
		return
	}
	if v.Status != "" && !slices.Contains(sourceStatuses, v.Status) {
		s.fail(w, r, http.StatusBadRequest, "There is no load status “"+v.Status+"”: choose loading, loaded, quarantined or failed.")
		return
	}
	if strings.Contains(v.Source, "/") {
		s.fail(w, r, http.StatusBadRequest, "A source name has no “/”: “"+v.Source+"” is not one.")
		return
	}
	// Every source's entries: the filter's choices, and an unknown source
	// named as such rather than an empty table.
	all, err := s.deps.Ledger.List(r.Context(), "")
	if err != nil && len(all) == 0 {
		s.failErr(w, r, err)
		return
	}
	if err != nil {
		v.Partial = err.Error()
	}
	for _, e := range all {
		if !slices.Contains(v.Sources, e.GetSource()) {
			v.Sources = append(v.Sources, e.GetSource())
		}
	}
	slices.Sort(v.Sources)
	if v.Source != "" && !slices.Contains(v.Sources, v.Source) {
		s.fail(w, r, http.StatusNotFound, "The ledger has no source “"+v.Source+"”: no object of it was loaded yet, or the name is misspelt.")
		return
	}
	for _, e := range all {
		if (v.Source != "" && e.GetSource() != v.Source) || (v.Status != "" && statusName(e.GetStatus()) != v.Status) {
			continue
		}
		v.Rows = append(v.Rows, sourceRow{
			Source: e.GetSource(), URI: e.GetUri(), Status: statusName(e.GetStatus()), Reason: e.GetReason(),
			Records: e.GetRecords(), Accepted: e.GetAccepted(), Rejected: e.GetRejected(),
			Updated: e.GetUpdatedAt().AsTime(), Attempts: e.GetAttempts(),
		})
	}
	// Newest first: what a person checking "did my file load?" looks for.
	slices.SortStableFunc(v.Rows, func(a, b sourceRow) int { return b.Updated.Compare(a.Updated) })
	v.Total = len(v.Rows)
	if len(v.Rows) > sourcesLimit {
		v.Rows, v.Truncated = v.Rows[:sourcesLimit], true
	}
	s.page(w, r, http.StatusOK, "sources", v)
}
