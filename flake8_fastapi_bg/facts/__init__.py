"""The gathering stage of the FBG2xx rules: what a module's routes, dependencies and task
sites say about how its tasks are scheduled (`routes`, `flow`, `lifetimes`, `middlewares`,
`callables`)."""
