"""The client conformance harness: real clients against a matrix of servers, each outcome
compared with vedette's verdict for the profile the client speaks for (see test_conformance.py).
"""
