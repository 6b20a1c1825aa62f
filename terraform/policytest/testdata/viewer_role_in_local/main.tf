# A primitive role hidden in a local still counts.

locals {
  analyst_roles = ["roles/bigquery.dataViewer", "roles/viewer"]
}

resource "google_project_iam_member" "analysts" {
  for_each = toset(local.analyst_roles)

  project = "example"
  role    = each.value
  member  = "group:analysts@example.com"
}
