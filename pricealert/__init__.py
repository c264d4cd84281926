"""The composition root: the ``pricealert`` command and ``pricealert up``. The only package that
imports api, matcher and notifier together; each of them imports only ``shared``."""
