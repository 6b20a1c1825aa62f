package cli_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hemlabs/hem/registry"
)

// The registry records the commit each version was pushed from: --commit,
// else the git HEAD of the contracts' checkout.
func TestSchemaPushRecordsTheCommit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	head := func(t *testing.T, repo string) string {
		out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	inRepo := func(t *testing.T) string {
		repo := t.TempDir()
		git(t, repo, "init", "-q")
		contracts(t, filepath.Join(repo, "proto"), "")
		git(t, repo, "add", ".")
		git(t, repo, "commit", "-qm", "contracts")
		return repo
	}
	tests := []struct {
		name string
		dir  func(t *testing.T) (dir, want string)
		args []string
		env  map[string]string
	}{
		{name: "git HEAD by default", dir: func(t *testing.T) (string, string) {
			repo := inRepo(t)
			return filepath.Join(repo, "proto"), head(t, repo)
		}},
		{name: "--commit wins", args: []string{"--commit", "release-2026.12"}, dir: func(t *testing.T) (string, string) {
			return filepath.Join(inRepo(t), "proto"), "release-2026.12"
		}},
		{name: "HEM_COMMIT", env: map[string]string{"HEM_COMMIT": "from-env"}, dir: func(t *testing.T) (string, string) {
			return filepath.Join(inRepo(t), "proto"), "from-env"
		}},
		{name: "none outside git", dir: func(t *testing.T) (string, string) {
			dir := contracts(t, t.TempDir(), "")
			if exec.Command("git", "-C", dir, "rev-parse", "HEAD").Run() == nil {
				t.Skip("the temporary folder is inside a git checkout")
			}
			return dir, ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := startRegistry(t)
			for k, v := range tt.env {
				env[k] = v
			}
			dir, want := tt.dir(t)
			out, errOut, code := run(t, env, append([]string{"schema", "push", dir}, tt.args...)...)
			if code != 0 {
				t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
			}
			c, err := registry.Dial(context.Background(), env["HEM_REGISTRY"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			vs, err := c.Versions(t.Context(), "acme.orders.v1.OrderPlaced")
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 1 || vs[0].GetCommit() != want || vs[0].GetPushedBy() != registry.LocalPrincipal {
				t.Errorf("versions %v, want one pushed by %q from %q", vs, registry.LocalPrincipal, want)
			}
			// hem schema show names them too.
			_, errOut, code = run(t, env, "schema", "show", "acme.orders.v1.OrderPlaced")
			if wantLine := " by " + registry.LocalPrincipal; code != 0 || !strings.Contains(errOut, wantLine) || want != "" && !strings.Contains(errOut, " from "+want) {
				t.Errorf("schema show: exit %d, stderr %q; want %q and the commit %q", code, errOut, wantLine, want)
			}
		})
	}
	t.Run("a commit with a newline is refused", func(t *testing.T) {
		t.Parallel()
		env := startRegistry(t)
		out, errOut, code := run(t, env, "schema", "push", contracts(t, t.TempDir(), ""), "--commit", "abc\ndef")
		if code == 0 || !strings.Contains(errOut, "commit") {
			t.Fatalf("exit %d, want a failure naming the commit\n%s%s", code, out, errOut)
		}
	})
}
