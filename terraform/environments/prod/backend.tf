# State lives in a GCS bucket you create once (versioned, uniform access):
#   terraform init -backend-config=bucket=YOUR_STATE_BUCKET
terraform {
  backend "gcs" {
    prefix = "hem/prod"
  }
}
