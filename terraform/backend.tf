# State lives in a GCS bucket you create once (versioned, uniform access), one
# prefix per environment: the environment's backend file sets it.
#   terraform init -reconfigure -backend-config=environments/prod/backend.gcs.tfbackend \
#     -backend-config=bucket=YOUR_STATE_BUCKET
terraform {
  backend "gcs" {}
}
