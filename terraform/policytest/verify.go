package policytest

// verifyJob is the call of modules/scheduled_job that runs the archive
// verify job (terraform/verify.tf).
const verifyJob = "archive_verify"

// verifyGrants are the grants the verify job's account may (and must)
// hold: it reads the archive and the events dataset, with query jobs.
var verifyGrants = []grant{
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "archive_bucket", "bucket"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "events_dataset_id", "dataset_id"},
	{"google_project_iam_member", "roles/bigquery.jobUser", "var.project", "project"},
}

func checkVerify(m *module, report reportFunc) {
	checkScheduledJob(m, report, "archive-verify-least-privilege",
		scheduledJob{call: verifyJob, who: "the archive verify job", grants: verifyGrants})
}
