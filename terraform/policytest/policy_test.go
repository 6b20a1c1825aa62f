package policytest_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
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
		{"calls of modules/service", tree.ModuleCalls("modules/service"), 6}, // 3 per environment
	} {
		if len(c.got) < c.min {
			t.Errorf("found %d %s (%v), want at least %d", len(c.got), c.what, c.got, c.min)
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
			file: "environments/prod/main.tf",
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
			file: "environments/dev/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "registry")
				m.Body().SetAttributeValue("invokers", cty.ObjectVal(map[string]cty.Value{"public": cty.StringVal("allUsers")}))
			},
			want: "public-only-collector",
		},
		{
			name: "processors skip the invoker check",
			file: "environments/dev/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "processor")
				m.Body().SetAttributeValue("invoker_iam_disabled", cty.True)
			},
			want: "public-only-collector",
		},
		{
			name: "processors exposed to the internet",
			file: "environments/prod/main.tf",
			mutate: func(t *testing.T, body *hclwrite.Body) {
				m := mustBlock(t, body, "module", "processor")
				m.Body().SetAttributeValue("ingress", cty.StringVal("INGRESS_TRAFFIC_ALL"))
			},
			want: "ingress",
		},
		{
			name: "processors throttle their CPU",
			file: "environments/prod/main.tf",
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

// TestEnvironmentsDifferOnlyInVariables keeps dev a faithful rehearsal of
// prod: the same composition, outputs and providers; only variable defaults
// (and the state prefix) may differ.
func TestEnvironmentsDifferOnlyInVariables(t *testing.T) {
	t.Parallel()
	envs, err := filepath.Glob(filepath.Join(root, "environments", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) < 2 {
		t.Fatalf("found environments %v, want dev and prod", envs)
	}
	base := envs[0]
	for _, env := range envs[1:] {
		for _, file := range []string{"main.tf", "outputs.tf", "versions.tf"} {
			want := mustRead(t, filepath.Join(base, file))
			got := mustRead(t, filepath.Join(env, file))
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s: environments share it verbatim (change both)", filepath.Join(env, file), filepath.Join(base, file))
			}
		}
		if got, want := variableNames(t, filepath.Join(env, "variables.tf")), variableNames(t, filepath.Join(base, "variables.tf")); !slices.Equal(got, want) {
			t.Errorf("%s declares %q, %s declares %q", env, got, base, want)
		}
	}
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

func traversal(names ...string) hcl.Traversal {
	tr := hcl.Traversal{hcl.TraverseRoot{Name: names[0]}}
	for _, n := range names[1:] {
		tr = append(tr, hcl.TraverseAttr{Name: n})
	}
	return tr
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func variableNames(t *testing.T, name string) []string {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(mustRead(t, name), name, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var names []string
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" {
			names = append(names, b.Labels[0])
		}
	}
	slices.Sort(names)
	return names
}

func lines(vs []policytest.Violation) string {
	var sb strings.Builder
	for _, v := range vs {
		sb.WriteString("  " + v.String() + "\n")
	}
	return sb.String()
}
