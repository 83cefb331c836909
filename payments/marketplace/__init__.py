"""The providers' marketplace: onboarding, versioned prices, the directory, settlements."""
