package policytest

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// keysSyncJob is the call of modules/scheduled_job that runs the keys sync
// job (terraform/keys_sync.tf).
const keysSyncJob = "keys_sync"

// keysSyncGrants are the grants the keys sync job's account may (and must)
// hold: it reads the key store and writes the keys table with DML. No KMS
// role: it copies keysets wrapped, as the store holds them.
var keysSyncGrants = []grant{
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "registry_bucket", "bucket"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor", "google_bigquery_dataset.field_keys", "dataset_id"},
	{"google_project_iam_member", "roles/bigquery.jobUser", "var.project", "project"},
}

// keysSyncCondition is the only condition its registry bucket grant may
// carry, with locals spelled out: listing (checked on the bucket) and
// objects under keys/ but not hem erase's audit records. A grant on the
// registry bucket without it would read every schema and audit record.
const keysSyncCondition = `resource.type == "storage.googleapis.com/Bucket" || ` +
	`(resource.name.startsWith("projects/_/buckets/${module.storage.registry_bucket}/objects/keys/") && ` +
	`!resource.name.startsWith("projects/_/buckets/${module.storage.registry_bucket}/objects/keys/audit/"))`

func checkKeysSync(m *module, report reportFunc) {
	const rule = "keys-sync-least-privilege"
	checkScheduledJob(m, report, rule,
		scheduledJob{call: keysSyncJob, who: "the keys sync job", grants: keysSyncGrants})
	names := moduleOutputs(keysSyncJob, scheduledJobAccountOutputs...)
	for _, b := range resources(m, "google_storage_bucket_iam_member") {
		if member := attr(b.body, "member"); member == nil || !names(member) {
			continue
		}
		conds := nested(b.body, "condition")
		if len(conds) != 1 {
			report(b, b.rng, "the keys sync job's grant on a bucket needs one condition, limiting it to keys/ without keys/audit/: %s", keysSyncCondition)
			continue
		}
		e := attr(conds[0], "expression")
		got, ok := m.render(e)
		if !ok || got != keysSyncCondition {
			rng := conds[0].SrcRange
			if e != nil {
				rng = e.Range()
			}
			report(b, rng, "the keys sync job's bucket condition is %q, want %s", got, keysSyncCondition)
		}
	}
}

// render is a string expression's text with its locals spelled out and
// every other reference as ${root.attr...}, so a condition built from
// values known only at apply can still be compared with the one a rule
// allows. False when e is not made of literals and references alone.
func (m *module) render(e hclsyntax.Expression) (string, bool) {
	var sb strings.Builder
	seen := map[string]bool{}
	var walk func(e hclsyntax.Expression) bool
	walk = func(e hclsyntax.Expression) bool {
		switch e := e.(type) {
		case *hclsyntax.TemplateExpr:
			for _, p := range e.Parts {
				if !walk(p) {
					return false
				}
			}
			return true
		case *hclsyntax.TemplateWrapExpr:
			return walk(e.Wrapped)
		case *hclsyntax.LiteralValueExpr:
			if e.Val.Type() != cty.String || e.Val.IsNull() {
				return false
			}
			sb.WriteString(e.Val.AsString())
			return true
		case *hclsyntax.ScopeTraversalExpr:
			if e.Traversal.RootName() == "local" && len(e.Traversal) == 2 {
				if a, ok := e.Traversal[1].(hcl.TraverseAttr); ok && !seen[a.Name] && m.scope.locals[a.Name] != nil {
					seen[a.Name] = true
					defer delete(seen, a.Name)
					return walk(m.scope.locals[a.Name])
				}
			}
			parts := []string{e.Traversal.RootName()}
			for _, step := range e.Traversal[1:] {
				a, ok := step.(hcl.TraverseAttr)
				if !ok {
					return false
				}
				parts = append(parts, a.Name)
			}
			sb.WriteString("${" + strings.Join(parts, ".") + "}")
			return true
		}
		return false
	}
	if e == nil || !walk(e) {
		return "", false
	}
	return sb.String(), true
}
