"""The worker's side of a batch run: what each Ray actor (or an in-process worker) runs, one
call at a time, a page, a band, a stitch, a volume's page or the volume itself."""
