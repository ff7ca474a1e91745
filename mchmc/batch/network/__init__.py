"""The split pipeline's network: the service that runs the network on a device, the worker's
link to it, and the wire format between them."""
