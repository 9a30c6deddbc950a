"""Thin command handlers behind ``dpdsl.cli``: flags in, library calls, output out.

They sit above every stage (only ``dpdsl.cli`` imports them), so validation helpers such as
``dpdsl.preflight`` may load teachers without the stages importing the CLI.
"""
