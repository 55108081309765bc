"""`python -m connectors.hubspot.sandbox`: the sandbox without the hubsync CLI around it."""

from connectors.hubspot.sandbox.command import sandbox_command

if __name__ == "__main__":
    sandbox_command()
