package policytest

import (
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// scheduledJobModule is the module that runs a hem command on a schedule
// (terraform/modules/scheduled_job): the job, its account, its scheduler and
// the scheduler's account.
const scheduledJobModule = "modules/scheduled_job"

// The outputs of modules/scheduled_job that name the job's account: the
// only account of the module its caller may grant anything.
var scheduledJobAccountOutputs = []string{"service_account_member", "service_account_email"}

// scheduledJob is a call of modules/scheduled_job and the grants its job's
// account must hold exactly, all made by the caller.
type scheduledJob struct {
	call, who string
	grants    []grant
	// mayName allows a module argument to name the job's account; nil
	// allows none.
	mayName func(b *block, attr string) bool
}

// moduleOutputs reports whether e refers to one of the outputs of the call
// module.call.
func moduleOutputs(call string, outputs ...string) func(hclsyntax.Expression) bool {
	return func(e hclsyntax.Expression) bool {
		return slices.ContainsFunc(e.Variables(), func(t hcl.Traversal) bool {
			c, out, ok := moduleOutput(t)
			return ok && c == call && slices.Contains(outputs, out)
		})
	}
}

// moduleOutput splits module.CALL.OUTPUT.
func moduleOutput(t hcl.Traversal) (call, output string, ok bool) {
	if t.RootName() != "module" || len(t) < 3 {
		return "", "", false
	}
	c, ok1 := t[1].(hcl.TraverseAttr)
	o, ok2 := t[2].(hcl.TraverseAttr)
	if !ok1 || !ok2 {
		return "", "", false
	}
	return c.Name, o.Name, true
}

// checkScheduledJob checks, under rule, a call of modules/scheduled_job:
// its job's account holds exactly its grants, and no grant names another
// output of the call (the scheduler's account, were it exposed: inside the
// module, scheduled-job-least-privilege checks what it holds).
func checkScheduledJob(m *module, report reportFunc, rule string, j scheduledJob) {
	var call *block
	for _, b := range m.blocks {
		if b.kind == "module" && len(b.labels) == 1 && b.labels[0] == j.call && isModuleCall(b, scheduledJobModule) {
			call = b
		}
	}
	if call == nil {
		return
	}
	mayName := j.mayName
	if mayName == nil {
		mayName = func(*block, string) bool { return false }
	}
	exactGrants{who: j.who, rule: rule, names: moduleOutputs(j.call, scheduledJobAccountOutputs...), grants: j.grants, mayName: mayName}.check(m, call, report)

	for _, b := range m.blocks {
		if b.kind != "resource" || !strings.HasSuffix(b.resourceType(), "_iam_member") {
			continue
		}
		member := attr(b.body, "member")
		if member == nil {
			continue
		}
		for _, t := range member.Variables() {
			c, out, ok := moduleOutput(t)
			if ok && c == j.call && !slices.Contains(scheduledJobAccountOutputs, out) {
				report(b, member.Range(), "grants module.%s.%s: of %s's accounts only its own (service_account_member) holds grants outside %s; its scheduler's holds run.invoker on the job, there", c, out, j.who, scheduledJobModule)
			}
		}
	}
}

// The accounts of modules/scheduled_job.
const (
	scheduledJobAccount   = "google_service_account.this"
	scheduledJobScheduler = "google_service_account.scheduler"
)

// scheduledJobSchedulerGrants: the scheduler only runs its job.
var scheduledJobSchedulerGrants = []grant{
	{"google_cloud_run_v2_job_iam_member", "roles/run.invoker", "google_cloud_run_v2_job.this", "name"},
}

// checkScheduledJobModule checks modules/scheduled_job itself: its job's
// account holds nothing there (its caller grants it, under that job's
// rule), its scheduler's exactly run.invoker on the job, and no output
// exposes the scheduler's account, so that no caller can grant it more.
func checkScheduledJobModule(m *module, report reportFunc) {
	if !strings.HasSuffix(path.Clean(m.dir), scheduledJobModule) {
		return
	}
	const rule = "scheduled-job-least-privilege"
	accounts := []struct {
		addr, who string
		grants    []grant
	}{
		{scheduledJobAccount, "the scheduled job", nil},
		{scheduledJobScheduler, "the job's scheduler", scheduledJobSchedulerGrants},
	}
	for _, acct := range accounts {
		var sa *block
		for _, b := range resources(m, "google_service_account") {
			if b.name() == acct.addr {
				sa = b
			}
		}
		if sa == nil {
			continue
		}
		names := func(e hclsyntax.Expression) bool { return slices.Contains(references(e), acct.addr) }
		exactGrants{who: acct.who, rule: rule, names: names, grants: acct.grants,
			mayName: func(*block, string) bool { return false }}.check(m, sa, report)
		if acct.addr != scheduledJobScheduler {
			continue
		}
		for _, b := range m.blocks {
			if e := attr(b.body, "value"); b.kind == "output" && e != nil && names(e) {
				report(b, e.Range(), "an output exposes the job's scheduler's account: it holds run.invoker on its job and nothing else, so no caller may name it")
			}
		}
	}
}
