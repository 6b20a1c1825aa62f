package policytest

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

const consoleModule = "console"

// consoleProjectRoles are the console's project roles, all of them: its
// BigQuery queries run as jobs, and the Live page reads Cloud Monitoring.
var consoleProjectRoles = []string{"roles/bigquery.jobUser", "roles/monitoring.viewer"}

// consoleSecrets are the secrets the console reads: its API key for the
// collector and the key of its CSRF tokens.
var consoleSecrets = []string{"console_api_key", "console_secret"}

// consoleGrants are the grants the console's service account may (and
// must) hold on resources, matched as sourceGrants are.
var consoleGrants = []sourceGrant{
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "events_dataset_id", "dataset_id"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "failed_dataset_id", "dataset_id"},
	{"google_storage_bucket_iam_member", "roles/storage.objectCreator", "console_audit", "bucket"},
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "console_audit", "bucket"},
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "ledger", "bucket"},
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "archive_bucket", "bucket"},
}

// consoleInvoked are the services whose invokers may name the console: it
// reads the registry and replays through the collector.
var consoleInvoked = []string{"registry", "collector"}

// namesConsole reports whether e refers to the console's module.
func namesConsole(e hclsyntax.Expression) bool {
	return slices.Contains(references(e), "module."+consoleModule)
}

func checkConsole(m *module, report reportFunc) {
	var call *block
	for _, b := range m.blocks {
		if b.kind == "module" && len(b.labels) == 1 && b.labels[0] == consoleModule && isModuleCall(b, "modules/service") {
			call = b
		}
	}
	if call == nil {
		return
	}
	if e := attr(call.body, "project_roles"); e == nil {
		report(call, call.rng, "the console must list its project roles (%s): the module's default is not its", strings.Join(consoleProjectRoles, ", "))
	} else {
		var got []string
		for _, l := range m.scope.literals(e, true) {
			got = append(got, l.value)
			if !slices.Contains(consoleProjectRoles, l.value) {
				report(call, l.rng, "the console may hold no project role but %s, not %s", strings.Join(consoleProjectRoles, " and "), l.value)
			}
		}
		for _, r := range consoleProjectRoles {
			if !slices.Contains(got, r) {
				report(call, e.Range(), "the console lacks %s", r)
			}
		}
	}
	if e := attr(call.body, "secret_files"); e != nil {
		report(call, e.Range(), "the console mounts no secret file")
	}
	if e := attr(call.body, "secret_env"); e != nil {
		for _, r := range secretRefs(e) {
			if !slices.Contains(consoleSecrets, r) {
				report(call, e.Range(), "the console reads only its own secrets (%s), not the secret %q", strings.Join(consoleSecrets, ", "), r)
			}
		}
	}

	held := map[int]bool{}
	for _, b := range m.blocks {
		if b == call {
			continue
		}
		switch b.kind {
		case "module":
			for name, a := range b.body.Attributes {
				if !namesConsole(a.Expr) {
					continue
				}
				if name != "invokers" || !slices.ContainsFunc(consoleInvoked, func(s string) bool { return mentions(b, s) }) {
					report(b, a.Expr.Range(), "the console is granted something through %s.%s: its grants are listed in console-least-privilege", b.name(), name)
				}
			}
		case "resource":
			member := attr(b.body, "member")
			if member == nil || !namesConsole(member) {
				for _, a := range b.body.Attributes {
					if namesConsole(a.Expr) && strings.HasSuffix(b.resourceType(), "_iam_member") {
						report(b, a.Expr.Range(), "the console's account appears in a grant's %s", a.Name)
					}
				}
				continue
			}
			role, _ := m.scope.evalString(attr(b.body, "role"))
			i := slices.IndexFunc(consoleGrants, func(g sourceGrant) bool {
				if g.typ != b.resourceType() || g.role != role {
					return false
				}
				return slices.ContainsFunc(references(attr(b.body, g.attr)), func(r string) bool { return strings.Contains(r, g.target) }) ||
					strings.Contains(exprText(b, g.attr), g.target)
			})
			if i < 0 || held[i] {
				report(b, b.rng, "grants the console %s on %s: it may hold only %s", cmpOr(role, "a role"), b.resourceType(), consoleGrantList())
				continue
			}
			held[i] = true
		}
	}
	for i, g := range consoleGrants {
		if !held[i] {
			report(call, call.rng, "the console lacks %s on the %s (%s)", g.role, g.target, g.typ)
		}
	}
}

func consoleGrantList() string {
	var out []string
	for _, g := range consoleGrants {
		out = append(out, g.role+" on the "+g.target)
	}
	return strings.Join(out, ", ")
}
