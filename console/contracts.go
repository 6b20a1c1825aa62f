package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// routesContracts: the contracts pages.
func (s *Server) routesContracts(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"contracts", s.contractsList)
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

// piiField is a field with a PII handling: its path, how the collector
// treats its value and its policy tag.
type piiField struct {
	Path      string
	Handling  string // HASH, REDACT, DROP
	PolicyTag string
}

type contractsListData struct {
	Rows  []subjectRow
	Query string
}

// contractsList answers from the registry only (subjects and each latest
// version, cached by the client): it never touches the warehouse.
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
