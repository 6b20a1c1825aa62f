package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/compat"
)

// routesContracts: the contracts pages. They read the registry only,
// never the warehouse.
func (s *Server) routesContracts(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"contracts", s.contractsList)
	mux.HandleFunc("GET "+prefix+"contracts/{subject}", s.contractsSubject)
	mux.HandleFunc("GET "+prefix+"contracts/{subject}/v/{version}", s.contractsVersion)
	mux.HandleFunc("GET "+prefix+"contracts/{subject}/diff", s.contractsDiff)
	mux.HandleFunc("GET "+prefix+"contracts/try", s.contractsTryForm)
	mux.HandleFunc("POST "+prefix+"contracts/try", s.contractsTry)
}

// subjectRow is one line of the contracts list.
type subjectRow struct {
	Subject string
	Latest  int
	State   string
	Table   string
	PII     []piiField
	Err     string // the latest version could not be read
}

// piiField is a field with a PII handling or a policy tag.
type piiField struct {
	Path      string
	Handling  string // HASH, REDACT, DROP
	PolicyTag string
}

type contractsListData struct {
	Rows  []subjectRow
	Query string
}

// contractsList: every subject and its latest version (the client caches
// versions by number, so this is one ListSubjects call once warm).
func (s *Server) contractsList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	subjects, err := s.deps.Registry.Subjects(ctx)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	rows := make([]subjectRow, len(subjects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, si := range subjects {
		rows[i] = subjectRow{Subject: si.GetSubject(), Latest: int(si.GetLatestVersion())}
		g.Go(func() error {
			sc, err := s.deps.Registry.Version(gctx, si.GetSubject(), int(si.GetLatestVersion()))
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				rows[i].Err = "cannot read this version"
				s.cfg.logger.WarnContext(gctx, "console: contracts list", "subject", si.GetSubject(), "err", err)
				return nil
			}
			rows[i].State = sc.State.String()
			rows[i].Table = contract.TableName(sc.Descriptor())
			rows[i].PII = piiFields(sc.Descriptor())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.failErr(w, r, err)
		return
	}
	q := strings.TrimSpace(r.FormValue("q"))
	if q != "" {
		rows = slices.DeleteFunc(rows, func(row subjectRow) bool {
			return !strings.Contains(strings.ToLower(row.Subject+" "+row.Table), strings.ToLower(q))
		})
	}
	slices.SortFunc(rows, func(a, b subjectRow) int { return cmp.Compare(a.Subject, b.Subject) })
	s.page(w, r, http.StatusOK, "contracts", contractsListData{Rows: rows, Query: q})
}

// versionRow is one version in a subject's timeline.
type versionRow struct {
	Version     int
	ID          int64
	State       string
	CreatedAt   time.Time
	PushedBy    string
	Commit      string
	Fingerprint string
}

type subjectData struct {
	Subject  string
	Versions []versionRow // newest first
	Latest   *versionView
	From, To int // the diff form's defaults
}

// versions loads a subject's timeline, newest first; an unknown subject
// answers 404 and returns false.
func (s *Server) versions(w http.ResponseWriter, r *http.Request, subject string) ([]versionRow, bool) {
	vs, err := s.deps.Registry.Versions(r.Context(), subject)
	if err != nil || len(vs) == 0 {
		if err == nil || isNotFound(err) {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no contract %q in the registry.", subject))
		} else {
			s.failErr(w, r, err)
		}
		return nil, false
	}
	out := make([]versionRow, 0, len(vs))
	for _, v := range slices.Backward(vs) {
		row := versionRow{
			Version: int(v.GetVersion()), ID: v.GetId(), State: stateName(v.GetState()),
			PushedBy: v.GetPushedBy(), Commit: v.GetCommit(), Fingerprint: v.GetFingerprint(),
		}
		if v.GetCreatedAt() != nil {
			row.CreatedAt = v.GetCreatedAt().AsTime()
		}
		out = append(out, row)
	}
	return out, true
}

func stateName(st registryv1.SchemaState) string {
	return strings.TrimPrefix(st.String(), "SCHEMA_STATE_")
}

func isNotFound(err error) bool {
	return statusCode(err) == http.StatusNotFound
}

// version loads one version named in the URL; it answers 404 naming the
// subject and version when there is none.
func (s *Server) version(w http.ResponseWriter, r *http.Request, subject, v string, timeline []versionRow) (*contract.Schema, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || n < 1 || n > timeline[0].Version {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("Contract %s has no version %q: its versions are 1 to %d.", subject, v, timeline[0].Version))
		return nil, false
	}
	sc, err := s.deps.Registry.Version(r.Context(), subject, n)
	if err != nil {
		if isNotFound(err) {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("Contract %s has no version %d.", subject, n))
		} else {
			s.failErr(w, r, err)
		}
		return nil, false
	}
	return sc, true
}

func (s *Server) contractsSubject(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	timeline, ok := s.versions(w, r, subject)
	if !ok {
		return
	}
	latest, ok := s.version(w, r, subject, strconv.Itoa(timeline[0].Version), timeline)
	if !ok {
		return
	}
	d := subjectData{Subject: subject, Versions: timeline, Latest: viewVersion(latest, timeline), To: timeline[0].Version, From: max(1, timeline[0].Version-1)}
	s.page(w, r, http.StatusOK, "contracts-subject", d)
}

func (s *Server) contractsVersion(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	timeline, ok := s.versions(w, r, subject)
	if !ok {
		return
	}
	sc, ok := s.version(w, r, subject, r.PathValue("version"), timeline)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, "contracts-version", viewVersion(sc, timeline))
}

// changeRow is one line of a semantic diff.
type changeRow struct {
	Op   string // added, removed, changed
	Path string
	What string
}

type diffData struct {
	Subject    string
	From, To   int
	Versions   []versionRow
	Changes    []changeRow
	Violations []compat.Violation
}

// contractsDiff shows what changed from one version to another and which
// evolution rules the later one breaks against the earlier (the registry's
// own check, as admission would run it).
func (s *Server) contractsDiff(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	timeline, ok := s.versions(w, r, subject)
	if !ok {
		return
	}
	latest := timeline[0].Version
	from, to := r.FormValue("from"), r.FormValue("to")
	if to == "" {
		to = strconv.Itoa(latest)
	}
	if from == "" {
		n, _ := strconv.Atoi(strings.TrimPrefix(to, "v"))
		from = strconv.Itoa(max(1, n-1))
	}
	a, ok := s.version(w, r, subject, from, timeline)
	if !ok {
		return
	}
	b, ok := s.version(w, r, subject, to, timeline)
	if !ok {
		return
	}
	d := diffData{Subject: subject, From: a.Version, To: b.Version, Versions: timeline, Changes: changes(registry.Diff(a, b))}
	if a.Version != b.Version {
		d.Violations = compat.Check(b, []*contract.Schema{a})
	}
	s.page(w, r, http.StatusOK, "contracts-diff", d)
}

func changes(cs []registry.Change) []changeRow {
	out := make([]changeRow, 0, len(cs))
	for _, c := range cs {
		op := "changed"
		switch c.Op {
		case '+':
			op = "added"
		case '-':
			op = "removed"
		}
		out = append(out, changeRow{Op: op, Path: c.Path, What: c.What})
	}
	return out
}

// piiFields lists the fields of md (nested messages included, once per
// path) that carry a PII handling or a policy tag.
func piiFields(md protoreflect.MessageDescriptor) []piiField {
	var out []piiField
	var walk func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool)
	walk = func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		defer delete(seen, md.FullName())
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			p := string(fd.Name())
			if path != "" {
				p = path + "." + p
			}
			if fo := contract.FieldOptions(fd); fo != nil && (fo.GetPii() != optionsv1.PiiHandling_PII_HANDLING_UNSPECIFIED || fo.GetPolicyTag() != "") {
				out = append(out, piiField{Path: p, Handling: piiName(fo.GetPii()), PolicyTag: fo.GetPolicyTag()})
			}
			if fd.Message() != nil && !fd.IsMap() {
				walk(fd.Message(), p, seen)
			}
		}
	}
	walk(md, "", map[protoreflect.FullName]bool{})
	return out
}

func piiName(h optionsv1.PiiHandling) string {
	if h == optionsv1.PiiHandling_PII_HANDLING_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(h.String(), "PII_HANDLING_")
}
