import importlib.util
import os
import sys

# Without a sourced workspace, the package comes from src/. With one, its devel space
# comes first (it also holds the generated rostrace.msg, which a src/-only package
# would shadow for every test of the run).
if importlib.util.find_spec('rostrace') is None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                    'src'))
