"""Tests of the dr2e_models package: ``cd models && python3 -m unittest discover -s tests -t .``"""
