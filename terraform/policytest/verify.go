package policytest

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

func checkVerify(m *module, report reportFunc) {
	checkAccounts(m, report, "archive-verify-least-privilege",
		accountGrants{addr: verifyAccount, who: "the archive verify job", grants: verifyGrants},
		accountGrants{addr: verifyScheduler, who: "the archive verify scheduler", grants: verifySchedulerGrants},
	)
}
