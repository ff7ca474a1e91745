"""Containers of pages, CBZ / ZIP volumes and scanned PDFs, end to end: their entries
(:mod:`~mchmc.containers.entry`), which format a file is and the module that reads it
(:mod:`~mchmc.containers.formats`: :mod:`~mchmc.containers.zipvolume`, :mod:`~mchmc.containers.pdf`),
a page copied out into a file of its own and the volume written back
(:mod:`~mchmc.containers.members`). Below :mod:`mchmc.batch`: it never imports it."""
