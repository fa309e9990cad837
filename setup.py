"""Everything else is in pyproject.toml; this file only declares the optional C accelerator.

``pykafka_broker.protocol._recordwalk`` checks every record of a produced batch without making Python
objects (see protocol/_recordwalk.c). It is optional: where no C compiler is available the build
carries on without it and the broker uses the pure-Python walker, which gives the same answers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("pykafka_broker.protocol._recordwalk", ["protocol/_recordwalk.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)
