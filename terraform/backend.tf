# State lives in a GCS bucket you create once (versioned, uniform access), one
# prefix per environment, set by the environment's backend file (README.md,
# "First deployment"):
#   TF_DATA_DIR=environments/ENV/.terraform terraform init \
#     -backend-config=environments/ENV/backend.gcs.tfbackend -backend-config=bucket=YOUR_STATE_BUCKET
terraform {
  backend "gcs" {}
}
