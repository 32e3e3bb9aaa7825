"""A small MCP server for Examples/mcp: city facts from a table, over stdio.

wflo starts it inside the sandbox (no network, only the paths the workflow lists readable, only
the environment it is given). It uses the official Python SDK (`mcp` from PyPI):
    scripts/python-venv.sh .build/venv-mcp mcp==1.26.0
"""
from mcp.server.fastmcp import FastMCP

CITIES = {
    "Paris": "Paris, France: 2,102,650 people (city proper, 2023 census); area 105.4 km2.",
    "Lyon": "Lyon, France: 522,250 people (2023); third-largest city of France.",
    "Marseille": "Marseille, France: 877,215 people (2023); the oldest city of France.",
}

mcp = FastMCP("city-facts")


@mcp.tool()
def population(city: str) -> str:
    """The population of a French city, with its source."""
    return CITIES.get(city, "no facts about %s" % city)


@mcp.tool()
def cities() -> str:
    """The cities this server knows."""
    return ", ".join(sorted(CITIES))


if __name__ == "__main__":
    mcp.run(transport="stdio")
