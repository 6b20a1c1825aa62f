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
// must) hold on resources.
var consoleGrants = []grant{
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

	exactGrants{who: "the console", rule: "console-least-privilege", names: namesConsole, grants: consoleGrants,
		mayName: func(b *block, name string) bool {
			return name == "invokers" && slices.ContainsFunc(consoleInvoked, func(s string) bool { return mentions(b, s) })
		},
	}.check(m, call, report)
}
