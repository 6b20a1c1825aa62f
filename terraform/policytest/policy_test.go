package policytest_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/hemlabs/hem/terraform/policytest"
)

// root is the terraform tree this package lives in.
const root = ".."

func TestTreeKeepsPolicies(t *testing.T) {
	t.Parallel()
	tree, err := policytest.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range policytest.Check(tree) {
		t.Errorf("%s", v)
	}

	// A tree that passes because it is empty proves nothing: make sure the
	// checked resources are there.
	for _, c := range []struct {
		what string
		got  []string
		min  int
	}{
		{"google_pubsub_subscription", tree.Resources("google_pubsub_subscription"), 2},
		{"google_pubsub_topic_iam_member", tree.Resources("google_pubsub_topic_iam_member"), 1},
		{"google_cloud_run_v2_service", tree.Resources("google_cloud_run_v2_service"), 1},
		{"google_storage_bucket", tree.Resources("google_storage_bucket"), 2},
		{"google_bigquery_dataset", tree.Resources("google_bigquery_dataset"), 2},
		{"google_secret_manager_secret", tree.Resources("google_secret_manager_secret"), 1},
		{"calls of modules/service", tree.ModuleCalls("modules/service"), 4},
		// rollup, archive verify, keys sync: their rules find them by name.
		{"calls of modules/scheduled_job", tree.ModuleCalls("modules/scheduled_job"), 3},
		{"google_storage_notification", tree.Resources("google_storage_notification"), 1},
	} {
		if len(c.got) < c.min {
			t.Errorf("found %d %s (%v), want at least %d", len(c.got), c.what, c.got, c.min)
		}
	}

	// The root module is checked with each environment's values, not with
	// its defaults alone.
	envs := tree.Environments()
	for _, env := range []string{"dev", "prod"} {
		dir := root + "/environments/" + env
		if got := envs[dir]; got != root {
			t.Errorf("environment %s deploys %q, want the root module %q (all: %v)", dir, got, root, envs)
		}
	}
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir  string
		want []string // rule ids, one per expected violation
	}{
		{"valid", nil},
		{"dead_letter_by_name", nil},
		{"missing_dead_letter", []string{"pubsub-dead-letter"}},
		{"editor_role", []string{"no-primitive-roles"}},
		{"viewer_role_in_local", []string{"no-primitive-roles"}},
		{"authoritative_iam", []string{"no-authoritative-project-iam"}},
		{"no_agent_grants", []string{"pubsub-service-agent", "pubsub-service-agent"}},
		{"no_retry_policy", []string{"pubsub-retry-policy"}},
		{"short_ack_deadline", []string{"pubsub-ack-deadline"}},
		{"shared_service_account", []string{"cloud-run-service-account"}},
		{"default_service_account", []string{"cloud-run-service-account"}},
		{"public_registry", []string{"public-only-collector"}},
		{"disguised_public_registry", []string{"public-only-collector"}},
		{"public_processor", []string{"ingress", "ingress"}},
		{"processor_module", []string{"ingress", "processor-always-on", "processor-always-on"}},
		{"processor_sized_per_environment", []string{"documented", "processor-always-on"}},
		{"open_bucket", []string{"bucket-hardening", "bucket-hardening"}},
		{"undocumented", []string{"documented", "documented", "documented"}},
		{"failed_kept_forever", []string{"failed-retention"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			tree, err := policytest.Load(filepath.Join("testdata", tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			violations := policytest.Check(tree)
			var got []string
			for _, v := range violations {
				got = append(got, v.Rule)
			}
			slices.Sort(got)
			t.Logf("violations:\n%s", lines(violations))
			if !slices.Equal(got, tt.want) {
				t.Errorf("rules = %q, want %q; violations:\n%s", got, tt.want, lines(violations))
			}
		})
	}
}

// TestMutations breaks the real tree the way a careless change would and
// checks that the policy notices: the rules are live on the files that ship,
// not only on fixtures.
func TestMutations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string
		mutate func(t *testing.T, body *hclwrite.Body)
		want   string
	}{
		{
			name: "sink subscription loses its dead-letter policy",
			file: "modules/pubsub/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				sub := mustBlock(t, body, "resource", "google_pubsub_subscription", "sink")
				sub.Body().RemoveBlock(mustBlock(t, sub.Body(), "dead_letter_policy"))
			},
			want: "pubsub-dead-letter",
		},
		{
			name: "sink subscription loses its retry policy",
			file: "modules/pubsub/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				sub := mustBlock(t, body, "resource", "google_pubsub_subscription", "sink")
				sub.Body().RemoveBlock(mustBlock(t, sub.Body(), "retry_policy"))
			},
			want: "pubsub-retry-policy",
		},
		{
			name: "service agent grant removed",
			file: "modules/pubsub/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_pubsub_topic_iam_member", "service_agent_dead_letter_publisher"))
			},
			want: "pubsub-service-agent",
		},
		{
			name: "collector gets roles/editor",
			file: "main.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_project_iam_member", "collector_editor"}).Body()
				b.SetAttributeTraversal("project", traversal("var", "project"))
				b.SetAttributeValue("role", cty.StringVal("roles/editor"))
				b.SetAttributeTraversal("member", traversal("module", "collector", "service_account_member"))
			},
			want: "no-primitive-roles",
		},
		{
			name: "service module defaults to roles/owner",
			file: "modules/service/variables.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				v := mustBlock(t, body, "variable", "project_roles")
				v.Body().SetAttributeValue("default", cty.ListVal([]cty.Value{cty.StringVal("roles/owner")}))
			},
			want: "no-primitive-roles",
		},
		{
			name: "registry opened to allUsers",
			file: "main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "registry")
				m.Body().SetAttributeValue("invokers", cty.ObjectVal(map[string]cty.Value{"public": cty.StringVal("allUsers")}))
			},
			want: "public-only-collector",
		},
		{
			name: "processors skip the invoker check",
			file: "main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "processor")
				m.Body().SetAttributeValue("invoker_iam_disabled", cty.True)
			},
			want: "public-only-collector",
		},
		{
			name: "processors exposed to the internet",
			file: "main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "processor")
				m.Body().SetAttributeValue("ingress", cty.StringVal("INGRESS_TRAFFIC_ALL"))
			},
			want: "ingress",
		},
		{
			name: "processors throttle their CPU",
			file: "main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "processor")
				m.Body().SetAttributeValue("cpu_always_allocated", cty.False)
			},
			want: "processor-always-on",
		},
		{
			name: "second service reuses the service account",
			file: "modules/service/main.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				svc := body.AppendNewBlock("resource", []string{"google_cloud_run_v2_service", "sidecar"}).Body()
				svc.SetAttributeValue("name", cty.StringVal("sidecar"))
				svc.SetAttributeValue("ingress", cty.StringVal("INGRESS_TRAFFIC_INTERNAL_ONLY"))
				tmpl := svc.AppendNewBlock("template", nil).Body()
				tmpl.SetAttributeTraversal("service_account", traversal("google_service_account", "this", "email"))
			},
			want: "cloud-run-service-account",
		},
		{
			name: "archive bucket inherits public access prevention",
			file: "modules/storage/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket", "archive")
				b.Body().SetAttributeValue("public_access_prevention", cty.StringVal("inherited"))
			},
			want: "bucket-hardening",
		},
		{
			name: "archive bucket keeps failed/ for ever",
			file: "modules/storage/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket", "archive")
				for _, rule := range b.Body().Blocks() {
					if rule.Type() == "lifecycle_rule" && strings.Contains(string(rule.BuildTokens(nil).Bytes()), "failed/") {
						b.Body().RemoveBlock(rule)
					}
				}
			},
			want: "failed-retention",
		},
		{
			name: "dev's processors scale to zero",
			file: "environments/dev/values.tfvars",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				// The other attributes come from the type's optional
				// defaults, as terraform fills them in.
				body.SetAttributeValue("processors", cty.ObjectVal(map[string]cty.Value{
					"bigquery": cty.EmptyObjectVal,
					"archive":  cty.EmptyObjectVal,
					"failed":   cty.ObjectVal(map[string]cty.Value{"min_instances": cty.NumberIntVal(0)}),
				}))
			},
			want: "processor-always-on",
		},
		{
			name: "prod's bigquery processor scales to zero",
			file: "environments/prod/values.tfvars",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				body.SetAttributeValue("processors", cty.ObjectVal(map[string]cty.Value{
					"bigquery": cty.ObjectVal(map[string]cty.Value{"min_instances": cty.NumberIntVal(0), "max_instances": cty.NumberIntVal(20)}),
					"archive":  cty.EmptyObjectVal,
					"failed":   cty.EmptyObjectVal,
				}))
			},
			want: "processor-always-on",
		},
		{
			name: "console gets a project role too many",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "console")
				m.Body().SetAttributeValue("project_roles", cty.ListVal([]cty.Value{
					cty.StringVal("roles/bigquery.jobUser"), cty.StringVal("roles/monitoring.viewer"), cty.StringVal("roles/bigquery.dataEditor")}))
			},
			want: "console-least-privilege",
		},
		{
			name: "archive verify writes the archive",
			file: "verify.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "archive_verify_reader")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/storage.objectAdmin"))
			},
			want: "archive-verify-least-privilege",
		},
		{
			name: "archive verify loses its query jobs",
			file: "verify.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_project_iam_member", "archive_verify_job_user"))
			},
			want: "archive-verify-least-privilege",
		},
		{
			name: "archive verify scheduler reads the dataset",
			// Through an output modules/scheduled_job would have to add.
			file: "verify.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_bigquery_dataset_iam_member", "sched_viewer"}).Body()
				b.SetAttributeTraversal("dataset_id", traversal("module", "bigquery", "events_dataset_id"))
				b.SetAttributeValue("role", cty.StringVal("roles/bigquery.dataViewer"))
				b.SetAttributeTraversal("member", traversal("module", "archive_verify", "scheduler_member"))
			},
			want: "archive-verify-least-privilege",
		},
		{
			name: "rollup edits the events dataset",
			file: "rollup.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_bigquery_dataset_iam_member", "rollup_events_viewer")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/bigquery.dataEditor"))
			},
			want: "rollup-least-privilege",
		},
		{
			name: "rollup edits every dataset",
			file: "rollup.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_project_iam_member", "rollup_job_user")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/bigquery.dataEditor"))
			},
			want: "rollup-least-privilege",
		},
		{
			name: "rollup loses its rollups dataset",
			file: "rollup.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_bigquery_dataset_iam_member", "rollup_rollups_editor"))
			},
			want: "rollup-least-privilege",
		},
		{
			name: "rollup scheduler writes the rollups",
			// Through an output modules/scheduled_job would have to add.
			file: "rollup.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_bigquery_dataset_iam_member", "sched_editor"}).Body()
				b.SetAttributeTraversal("dataset_id", traversal("google_bigquery_dataset", "rollups", "dataset_id"))
				b.SetAttributeValue("role", cty.StringVal("roles/bigquery.dataEditor"))
				b.SetAttributeTraversal("member", traversal("module", "rollup", "scheduler_member"))
			},
			want: "rollup-least-privilege",
		},
		{
			name: "a scheduler gets a project role",
			file: "modules/scheduled_job/main.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_project_iam_member", "scheduler_runs_everything"}).Body()
				b.SetAttributeTraversal("project", traversal("var", "project"))
				b.SetAttributeValue("role", cty.StringVal("roles/run.invoker"))
				b.SetAttributeTraversal("member", traversal("google_service_account", "scheduler", "member"))
			},
			want: "scheduled-job-least-privilege",
		},
		{
			name: "a scheduler may no longer run its job",
			file: "modules/scheduled_job/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_cloud_run_v2_job_iam_member", "scheduler")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/run.developer"))
			},
			want: "scheduled-job-least-privilege",
		},
		{
			name: "a scheduled job's account gets a grant inside the module",
			file: "modules/scheduled_job/main.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_project_iam_member", "job_user"}).Body()
				b.SetAttributeTraversal("project", traversal("var", "project"))
				b.SetAttributeValue("role", cty.StringVal("roles/bigquery.jobUser"))
				b.SetAttributeTraversal("member", traversal("google_service_account", "this", "member"))
			},
			want: "scheduled-job-least-privilege",
		},
		{
			name: "modules/scheduled_job exposes its scheduler's account",
			file: "modules/scheduled_job/outputs.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("output", []string{"scheduler_member"}).Body()
				b.SetAttributeValue("description", cty.StringVal("The scheduler's account."))
				b.SetAttributeTraversal("value", traversal("google_service_account", "scheduler", "member"))
			},
			want: "scheduled-job-least-privilege",
		},
		{
			name: "console gets a project grant of its own",
			file: "console.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_project_iam_member", "console_pubsub"}).Body()
				b.SetAttributeTraversal("project", traversal("var", "project"))
				b.SetAttributeValue("role", cty.StringVal("roles/pubsub.subscriber"))
				b.SetAttributeTraversal("member", traversal("module", "console", "service_account_member"))
			},
			want: "console-least-privilege",
		},
		{
			name: "console edits the events dataset",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_bigquery_dataset_iam_member", "console_events_viewer")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/bigquery.dataEditor"))
			},
			want: "console-least-privilege",
		},
		{
			name: "console writes the archive",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "console_archive_reader")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/storage.objectAdmin"))
			},
			want: "console-least-privilege",
		},
		{
			name: "console rewrites its audit trail",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "console_audit_creator")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/storage.objectUser"))
			},
			want: "console-least-privilege",
		},
		{
			name: "console loses the ledger",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "console_ledger_reader"))
			},
			want: "console-least-privilege",
		},
		{
			name: "console reads the PII salt",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "console")
				m.Body().SetAttributeRaw("secret_env", hclwrite.TokensForObject([]hclwrite.ObjectAttrTokens{{
					Name:  hclwrite.TokensForIdentifier("HEM_PII_SALT"),
					Value: hclwrite.TokensForObject([]hclwrite.ObjectAttrTokens{{Name: hclwrite.TokensForIdentifier("secret"), Value: hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(`module.secrets.secret_ids["pii_salt"]`)}}}}),
				}}))
			},
			want: "console-least-privilege",
		},
		{
			name: "console is made public",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "console")
				m.Body().SetAttributeValue("ingress", cty.StringVal("INGRESS_TRAFFIC_ALL"))
			},
			want: "ingress",
		},
		{
			name: "source service gets the archive bucket",
			file: "source.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_storage_bucket_iam_member", "source_archive"}).Body()
				b.SetAttributeTraversal("bucket", traversal("module", "storage", "archive_bucket"))
				b.SetAttributeValue("role", cty.StringVal("roles/storage.objectViewer"))
				b.SetAttributeTraversal("member", traversal("module", "source", "service_account_member"))
			},
			want: "source-least-privilege",
		},
		{
			name: "source service administers the landing bucket",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "source_landing_reader")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/storage.objectAdmin"))
			},
			want: "source-least-privilege",
		},
		{
			name: "source service loses the ledger",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "source_ledger_user"))
			},
			want: "source-least-privilege",
		},
		{
			name: "source service publishes to the objects topic",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_pubsub_topic_iam_member", "source_failed_publisher")
				b.Body().SetAttributeRaw("topic", hclwrite.TokensForTraversal(traversal("google_pubsub_topic", "objects", "name")))
			},
			want: "source-least-privilege",
		},
		{
			name: "source service gets a project role",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "source")
				m.Body().SetAttributeValue("project_roles", cty.ListVal([]cty.Value{cty.StringVal("roles/monitoring.metricWriter"), cty.StringVal("roles/bigquery.dataEditor")}))
			},
			want: "source-least-privilege",
		},
		{
			name: "source service reads the API keys",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "source")
				m.Body().SetAttributeRaw("secret_files", hclwrite.Tokens{
					{Type: hclsyntax.TokenOBrace, Bytes: []byte("{")},
					{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")},
				})
			},
			want: "source-least-privilege",
		},
		{
			name: "source service throttles its CPU",
			file: "source.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "source")
				m.Body().SetAttributeValue("cpu_always_allocated", cty.False)
			},
			want: "processor-always-on",
		},
		{
			name: "processor gets decrypt on the field KEK",
			file: "fieldcrypt.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_kms_crypto_key_iam_member", "processor_kek"}).Body()
				b.SetAttributeTraversal("crypto_key_id", traversal("google_kms_crypto_key", "field_kek", "id"))
				b.SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyDecrypter"))
				b.SetAttributeRaw("member", hclwrite.TokensForTraversal(hcl.Traversal{hcl.TraverseRoot{Name: "module"}, hcl.TraverseAttr{Name: "processor"},
					hcl.TraverseIndex{Key: cty.StringVal("bigquery")}, hcl.TraverseAttr{Name: "service_account_member"}}))
			},
			want: "kms-decrypt",
		},
		{
			name: "readers group may encrypt",
			file: "fieldcrypt.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_kms_crypto_key_iam_member", "field_readers_kek")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyEncrypterDecrypter"))
			},
			want: "kms-decrypt",
		},
		{
			name: "a service account joins the field readers",
			file: "fieldcrypt.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				l := mustBlock(t, body, "locals")
				l.Body().SetAttributeRaw("field_readers", hclwrite.TokensForValue(cty.ObjectVal(map[string]cty.Value{
					"etl": cty.StringVal("serviceAccount:etl@p.iam.gserviceaccount.com"),
				})))
			},
			want: "kms-decrypt",
		},
		{
			name: "field readers member is another variable",
			file: "fieldcrypt.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_kms_crypto_key_iam_member", "field_readers_kek")
				b.Body().RemoveAttribute("for_each")
				b.Body().SetAttributeTraversal("member", traversal("var", "analysts_group"))
			},
			want: "kms-decrypt",
		},
		{
			name: "console decrypts through a project role",
			file: "console.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "console")
				m.Body().SetAttributeValue("project_roles", cty.ListVal([]cty.Value{cty.StringVal("roles/bigquery.jobUser"), cty.StringVal("roles/monitoring.viewer"), cty.StringVal("roles/cloudkms.cryptoKeyDecrypter")}))
			},
			want: "kms-decrypt",
		},
		{
			name: "decrypt granted on the key ring",
			file: "fieldcrypt.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_kms_key_ring_iam_member", "analysts"}).Body()
				b.SetAttributeTraversal("key_ring_id", traversal("google_kms_key_ring", "fields", "id"))
				b.SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyDecrypter"))
				b.SetAttributeValue("member", cty.StringVal("group:analysts@example.com"))
			},
			want: "kms-decrypt",
		},
		{
			name: "decrypt granted by an authoritative binding",
			file: "fieldcrypt.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_kms_crypto_key_iam_binding", "readers"}).Body()
				b.SetAttributeTraversal("crypto_key_id", traversal("google_kms_crypto_key", "field_kek", "id"))
				b.SetAttributeTraversal("role", traversal("local", "reader_role"))
				b.SetAttributeValue("members", cty.ListValEmpty(cty.String))
			},
			want: "kms-decrypt",
		},
		{
			name: "collector may only encrypt",
			file: "fieldcrypt.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_kms_crypto_key_iam_member", "collector_field_kek")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyEncrypter"))
			},
			want: "kms-decrypt",
		},
		{
			name: "keys sync creates and deletes keysets",
			file: "keys_sync.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "keys_sync_reader")
				b.Body().SetAttributeValue("role", cty.StringVal("roles/storage.objectAdmin"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync reads the whole registry bucket",
			file: "keys_sync.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "keys_sync_reader")
				b.Body().RemoveBlock(mustBlock(t, b.Body(), "condition"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync reads hem erase's audit records",
			file: "keys_sync.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket_iam_member", "keys_sync_reader")
				c := mustBlock(t, b.Body(), "condition")
				c.Body().SetAttributeRaw("expression", exprTokens(t,
					`"resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.field_keys_prefix}\")"`))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "the keys prefix widens to the whole registry bucket",
			file: "fieldcrypt.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				l := mustBlock(t, body, "locals")
				l.Body().SetAttributeRaw("field_keys_prefix", exprTokens(t, `"projects/_/buckets/${module.storage.registry_bucket}/objects/"`))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync loses its query jobs",
			file: "keys_sync.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				body.RemoveBlock(mustBlock(t, body, "resource", "google_project_iam_member", "keys_sync_job_user"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync edits the events dataset",
			file: "keys_sync.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_bigquery_dataset_iam_member", "keys_sync_keys_editor")
				b.Body().SetAttributeTraversal("dataset_id", traversal("module", "bigquery", "events_dataset_id"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync scheduler reads the keys",
			// Through an output modules/scheduled_job would have to add.
			file: "keys_sync.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_storage_bucket_iam_member", "sched_reader"}).Body()
				b.SetAttributeTraversal("bucket", traversal("module", "storage", "registry_bucket"))
				b.SetAttributeValue("role", cty.StringVal("roles/storage.objectViewer"))
				b.SetAttributeTraversal("member", traversal("module", "keys_sync", "scheduler_member"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync unwraps keysets with the KEK",
			file: "keys_sync.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_kms_crypto_key_iam_member", "keys_sync_kek"}).Body()
				b.SetAttributeTraversal("crypto_key_id", traversal("google_kms_crypto_key", "field_kek", "id"))
				b.SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyDecrypter"))
				b.SetAttributeTraversal("member", traversal("module", "keys_sync", "service_account_member"))
			},
			want: "keys-sync-least-privilege",
		},
		{
			name: "keys sync unwraps keysets with the KEK (kms-decrypt)",
			file: "keys_sync.tf",
			mutate: func(_ *testing.T, body *hclwrite.Body) {
				b := body.AppendNewBlock("resource", []string{"google_kms_crypto_key_iam_member", "keys_sync_kek"}).Body()
				b.SetAttributeTraversal("crypto_key_id", traversal("google_kms_crypto_key", "field_kek", "id"))
				b.SetAttributeValue("role", cty.StringVal("roles/cloudkms.cryptoKeyDecrypter"))
				b.SetAttributeTraversal("member", traversal("module", "keys_sync", "service_account_member"))
			},
			want: "kms-decrypt",
		},
		{
			name: "registry bucket allows ACLs",
			file: "modules/storage/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				b := mustBlock(t, body, "resource", "google_storage_bucket", "registry")
				b.Body().RemoveAttribute("uniform_bucket_level_access")
			},
			want: "bucket-hardening",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files, err := policytest.ReadFiles(root)
			if err != nil {
				t.Fatal(err)
			}
			src, ok := files[tt.file]
			if !ok {
				t.Fatalf("no file %s in the tree", tt.file)
			}
			f, diags := hclwrite.ParseConfig(src, tt.file, hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tt.mutate(t, f.Body())
			files[tt.file] = f.Bytes()

			tree, err := policytest.Parse(files)
			if err != nil {
				t.Fatal(err)
			}
			violations := policytest.Check(tree)
			for _, v := range violations {
				if v.Rule == tt.want {
					return
				}
			}
			t.Errorf("no %s violation after the mutation; got:\n%s", tt.want, lines(violations))
		})
	}
}

func TestRulesAreDocumented(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range policytest.Rules() {
		if r.ID == "" || r.Doc == "" {
			t.Errorf("rule %q has no id or doc", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule id %q is used twice", r.ID)
		}
		seen[r.ID] = true
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	_, err := policytest.Parse(map[string][]byte{"broken/main.tf": []byte(`resource "x" {`)})
	if err == nil {
		t.Fatal("Parse accepted a broken file")
	}
	var diags hcl.Diagnostics
	if !errors.As(err, &diags) {
		t.Errorf("error %v does not wrap the HCL diagnostics", err)
	}
}

// TestEnvironmentsAreThin keeps an environment to what makes it one: its
// backend (state prefix) and its values. terraform runs from the root, so a
// .tf file in an environment would be silently ignored, and a value for a
// variable the root does not declare only warns.
func TestEnvironmentsAreThin(t *testing.T) {
	t.Parallel()
	files, err := policytest.ReadFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	backends, err := readBackends(root)
	if err != nil {
		t.Fatal(err)
	}
	if problems := thinProblems(t, files, backends); len(problems) > 0 {
		t.Errorf("environments are not thin:\n  %s", strings.Join(problems, "\n  "))
	}

	// Each way an environment can grow fat is noticed.
	tests := []struct {
		name   string
		mutate func(files, backends map[string][]byte)
		want   string
	}{
		{
			name: "a resource in an environment",
			mutate: func(files, _ map[string][]byte) {
				files["environments/prod/extra.tf"] = []byte("resource \"google_storage_bucket\" \"x\" {}\n")
			},
			want: "environments/prod/extra.tf",
		},
		{
			// terraform would load it for every environment.
			name: "values beside the composition",
			mutate: func(files, _ map[string][]byte) {
				files["terraform.tfvars"] = []byte("deletion_protection = false\n")
			},
			want: "values belong in an environment's directory",
		},
		{
			name: "a value for an undeclared variable",
			mutate: func(files, _ map[string][]byte) {
				files["environments/dev/values.tfvars"] = append(slices.Clone(files["environments/dev/values.tfvars"]), "procesors = {}\n"...)
			},
			want: "procesors",
		},
		{
			name: "prod labelled dev",
			mutate: func(files, _ map[string][]byte) {
				files["environments/prod/values.tfvars"] = bytes.Replace(files["environments/prod/values.tfvars"], []byte(`"prod"`), []byte(`"dev"`), 1)
			},
			want: "environment",
		},
		{
			name: "prod writes dev's state",
			mutate: func(_, backends map[string][]byte) {
				backends["environments/prod"] = []byte("prefix = \"hem/dev\"\n")
			},
			want: "prefix",
		},
		{
			name: "an environment without a backend",
			mutate: func(_, backends map[string][]byte) {
				delete(backends, "environments/dev")
			},
			want: backendFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files, backends := maps.Clone(files), maps.Clone(backends)
			tt.mutate(files, backends)
			problems := thinProblems(t, files, backends)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tt.want, problems)
			}
		})
	}
}

// backendFile is an environment's partial backend configuration.
const backendFile = "backend.gcs.tfbackend"

// readBackends reads each environment's backend file, keyed by its directory
// relative to root; a missing file is a nil entry.
func readBackends(root string) (map[string][]byte, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "environments", "*"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, d := range dirs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(d, backendFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		out[filepath.ToSlash(rel)] = b
	}
	return out, nil
}

// thinProblems lists what makes the environments more than a backend and
// values: .tf files, values for undeclared variables, an environment label or
// state prefix that is not the directory's name.
func thinProblems(t *testing.T, files, backends map[string][]byte) []string {
	t.Helper()
	var problems []string
	envs := map[string]bool{}
	for name := range files {
		if dir := path.Dir(name); strings.HasPrefix(dir, "environments/") {
			envs[dir] = true
			if path.Ext(name) == ".tf" {
				problems = append(problems, name+": an environment holds its backend and values only; the composition is the root module")
			}
		}
	}
	for dir := range backends {
		envs[dir] = true
	}
	if len(envs) < 2 {
		problems = append(problems, fmt.Sprintf("found environments %v, want dev and prod", slices.Sorted(maps.Keys(envs))))
	}
	tree, err := policytest.Parse(files)
	if err != nil {
		return append(problems, err.Error())
	}
	for _, dir := range slices.Sorted(maps.Keys(envs)) {
		name := path.Base(dir)
		set, declared := tree.Values(dir)
		if len(set) == 0 {
			problems = append(problems, dir+": no values.tfvars")
		}
		for _, v := range set {
			if !slices.Contains(declared, v) {
				problems = append(problems, fmt.Sprintf("%s sets %s, which the root module does not declare", dir, v))
			}
		}
		if got := valueOf(t, files[dir+"/values.tfvars"], "environment"); got != name {
			problems = append(problems, fmt.Sprintf("%s/values.tfvars: environment = %q, want %q (the directory's name)", dir, got, name))
		}
		b := backends[dir]
		if b == nil {
			problems = append(problems, fmt.Sprintf("%s: no %s (its state prefix)", dir, backendFile))
			continue
		}
		if got := valueOf(t, b, "prefix"); !strings.HasSuffix(got, "/"+name) {
			problems = append(problems, fmt.Sprintf("%s/%s: prefix = %q, want one ending in /%s: environments never share state", dir, backendFile, got, name))
		}
	}
	return problems
}

// valueOf returns a string attribute of an HCL file, or "".
func valueOf(t *testing.T, src []byte, name string) string {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a := f.Body.(*hclsyntax.Body).Attributes[name]
	if a == nil {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
		return ""
	}
	return v.AsString()
}

func TestTerraformFmt(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), bin, "fmt", "-check", "-recursive", "-diff", root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("terraform fmt -check -recursive: %v (run \"terraform fmt -recursive terraform\")\n%s", err, out)
	}
}

func mustBlock(t *testing.T, body *hclwrite.Body, typ string, labels ...string) *hclwrite.Block {
	t.Helper()
	b := body.FirstMatchingBlock(typ, labels)
	if b == nil {
		t.Fatalf("no block %s %q", typ, labels)
	}
	return b
}

// exprTokens are the tokens of an HCL expression written as source (a
// template with interpolations, which SetAttributeValue would escape).
func exprTokens(t *testing.T, src string) hclwrite.Tokens {
	t.Helper()
	f, diags := hclwrite.ParseConfig([]byte("x = "+src+"\n"), "expr.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body().GetAttribute("x").Expr().BuildTokens(nil)
}

func traversal(names ...string) hcl.Traversal {
	tr := hcl.Traversal{hcl.TraverseRoot{Name: names[0]}}
	for _, n := range names[1:] {
		tr = append(tr, hcl.TraverseAttr{Name: n})
	}
	return tr
}

func lines(vs []policytest.Violation) string {
	var sb strings.Builder
	for _, v := range vs {
		sb.WriteString("  " + v.String() + "\n")
	}
	return sb.String()
}
