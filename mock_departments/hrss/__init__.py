"""Stand-in for the provincial HRSS entrance platform (人社入口平台). See `create_app`."""
from mock_departments.hrss.app import create_app

__all__ = ["create_app"]
