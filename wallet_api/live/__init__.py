"""Live events: the SSE stream, Web Push subscriptions and preferences, and the delivery
machinery (hub, dispatcher, push sender) the app starts and stops."""
