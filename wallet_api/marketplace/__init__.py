"""Providers: onboarding, prices, the directory and settlements."""
