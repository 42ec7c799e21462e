# image/oci.sh: the OCI image (sourced by image/build.sh). Filled in below.
build_oci() { die "oci: not built yet"; }
check_oci() { die "oci: not built yet"; }
