# What makes dev dev: a rehearsal of prod (same composition, same policies)
# that is cheap, small and easy to tear down. Passed first, before your own
# terraform.tfvars (project, image, ...), which may override any of these:
#   terraform plan -var-file=environments/dev/values.tfvars -var-file=environments/dev/terraform.tfvars
environment         = "dev"
deletion_protection = false

events_partition_expiration_days = 30
failed_partition_expiration_days = 30
archive_delete_after_days        = 90

# Scale to zero where hem allows it; processors pull, so they keep one instance.
registry = {
  min_instances = 0
  max_instances = 2
}

collector = {
  memory               = "512Mi"
  min_instances        = 0
  max_instances        = 3
  cpu_always_allocated = false
}

processors = {
  bigquery = { memory = "1Gi", min_instances = 1, max_instances = 2 }
  archive  = { memory = "1Gi", min_instances = 1, max_instances = 2 }
  failed   = { memory = "1Gi", min_instances = 1, max_instances = 2 }
}
