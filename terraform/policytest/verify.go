package policytest

import (
	"slices"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The archive verify job's accounts (terraform/verify.tf).
const (
	verifyAccount   = "google_service_account.archive_verify"
	verifyScheduler = "google_service_account.archive_verify_scheduler"
)

// verifyGrants are the grants the verify job's account may (and must)
// hold: it reads the archive and the events dataset, with query jobs.
var verifyGrants = []grant{
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "archive_bucket", "bucket"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "events_dataset_id", "dataset_id"},
	{"google_project_iam_member", "roles/bigquery.jobUser", "var.project", "project"},
}

// verifySchedulerGrants: the scheduler only runs the verify job.
var verifySchedulerGrants = []grant{
	{"google_cloud_run_v2_job_iam_member", "roles/run.invoker", "google_cloud_run_v2_job.archive_verify", "name"},
}

// namesAccount reports whether e refers to the service account resource
// addr.
func namesAccount(addr string) func(hclsyntax.Expression) bool {
	return func(e hclsyntax.Expression) bool { return slices.Contains(references(e), addr) }
}

func checkVerify(m *module, report reportFunc) {
	for _, acct := range []struct {
		addr, who string
		grants    []grant
	}{
		{verifyAccount, "the archive verify job", verifyGrants},
		{verifyScheduler, "the archive verify scheduler", verifySchedulerGrants},
	} {
		var call *block
		for _, b := range resources(m, "google_service_account") {
			if b.name() == acct.addr {
				call = b
			}
		}
		if call == nil {
			continue
		}
		exactGrants{who: acct.who, rule: "archive-verify-least-privilege", names: namesAccount(acct.addr), grants: acct.grants,
			mayName: func(*block, string) bool { return false },
		}.check(m, call, report)
	}
}
