"""Kafka consumers: decode, validate, batch, write, dead-letter; the traffic simulator.

The only package that imports aiokafka.
"""
