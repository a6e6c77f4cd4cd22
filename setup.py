from setuptools import setup
from catkin_pkg.python_setup import generate_distutils_setup

setup(**generate_distutils_setup(
    packages=['rostrace', 'rostrace.system', 'rostrace.probes', 'rostrace.model',
              'rostrace.views', 'rostrace.engine', 'rostrace.monitor', 'rostrace.output',
              'rostrace.cli'],
    package_dir={'': 'src'},
    package_data={'rostrace.probes': ['bpf/*.c', 'bpf/*.h']},
))
